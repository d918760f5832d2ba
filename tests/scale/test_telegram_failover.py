"""Telegram long polling with two processes: one polls at a time (Telegram ends a second poller
with 409), and when it goes the other takes over within the 10 s DESIGN.md allows."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from runtime.app import Runtime
from tests.telegram.bridge import SOURCE, adapter_of, telegram_settings
from tests.telegram.conftest import TOKEN
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import says

pytestmark = pytest.mark.postgres

LOCK = f"{SOURCE}:polling"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi(TOKEN)
    await server.start()
    yield server
    await server.close()


async def stored_texts(runtime: Runtime) -> list[str]:
    return [m.text for m in await runtime.storage.conversations.messages_after(0, 100)]


@pytest.mark.timeout(60)
async def test_one_process_polls_and_the_other_takes_over_when_it_stops(
    tmp_path: Path, fresh_postgres: str, redis_url: str, fake: FakeBotApi
) -> None:
    storage = {
        "database_url": fresh_postgres,
        "redis_url": redis_url,
        "redis_prefix": f"test-{secrets.token_hex(4)}",
        "files_dir": str(tmp_path / "files"),
    }
    routing = {"acknowledgements": {"enabled": False}}
    async with AsyncExitStack() as stack:
        runtimes = []
        for _ in range(2):
            runtime = Runtime(telegram_settings(tmp_path, fake, storage=storage, routing=routing))
            await runtime.start()
            stack.push_async_callback(runtime.stop)
            await adapter_of(runtime).settled()
            runtimes.append(runtime)

        def holders() -> list[Runtime]:
            return [r for r in runtimes if LOCK in r.singletons.holding()]

        await fake.wait_for(lambda: len(holders()) == 1 and fake.calls_of("getUpdates"))
        says(fake, 501, "first")
        await fake.wait_for(lambda: fake.pending_updates == 0)
        assert await stored_texts(runtimes[0]) == ["first"]

        [holder] = holders()
        [standby] = [r for r in runtimes if r is not holder]
        await holder.stop()
        says(fake, 501, "second")
        await fake.wait_for(lambda: fake.pending_updates == 0, timeout=10)
        assert holders() == [standby]
        assert await stored_texts(standby) == ["first", "second"]
        # Never two pollers at once: Telegram would have ended one with 409.
        assert [c.status for c in fake.calls_of("getUpdates") if c.status != 200] == []
