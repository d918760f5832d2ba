"""A restart while customers keep writing: no update lost, none stored twice, none replayed
once its offset was saved."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bridge.clock import SystemClock
from runtime.app import Runtime
from storage.store import Storage
from tests.telegram.bridge import SOURCE, adapter_of, telegram_settings
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import says
from tests.telegram.waiting import thread, until

CHATS = (7001, 7002, 7003, 7004, 7005)
PER_CHAT = 30


async def stored_texts(runtime: Runtime) -> dict[int, list[str]]:
    history = runtime.storage.conversations
    return {
        chat: [
            m.text
            for m in await history.thread_messages(thread(chat), 0, 1000, now=runtime.clock.now())
        ]
        for chat in CHATS
    }


async def until_stored(runtime: Runtime, count: int) -> None:
    async def enough() -> bool:
        return sum(len(t) for t in (await stored_texts(runtime)).values()) >= count

    await until(runtime, enough, timeout=30.0)


async def test_a_restart_mid_stream_loses_and_repeats_nothing(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    settings = telegram_settings(tmp_path, fake, routing={"acknowledgements": {"enabled": False}})
    total = len(CHATS) * PER_CHAT

    async def customers_write() -> None:
        for n in range(PER_CHAT):
            for chat in CHATS:
                says(fake, chat, f"{chat}/{n}")
                await asyncio.sleep(0.002)  # a steady stream, not one batch

    first = Runtime(settings, clock=SystemClock())
    await first.start()
    try:
        await adapter_of(first).settled()
        writing = asyncio.create_task(customers_write())
        await until_stored(first, 40)
        assert not writing.done()  # the customers are still writing
    finally:
        await first.stop()
    calls_before_restart = len(fake.calls)
    storage = Storage.open(settings.storage.database_url)
    try:
        cursor = await storage.cursors.get_cursor(SOURCE, "offset")
    finally:
        await storage.close()
    assert cursor is not None
    saved = json.loads(cursor)["offset"]
    confirmed = max(c.params["offset"] for c in fake.calls_of("getUpdates") if "offset" in c.params)
    assert saved >= confirmed  # never ahead of what was committed, never behind Telegram

    second = Runtime(settings, clock=SystemClock())
    await second.start()
    try:
        await adapter_of(second).settled()
        await writing
        await until_stored(second, total)
        texts = await stored_texts(second)
        for chat in CHATS:
            assert texts[chat] == [f"{chat}/{n}" for n in range(PER_CHAT)]  # once each, in order
        # The second run started where the first had saved its offset: nothing the first
        # had committed was handed out again.
        resumed = [c for c in fake.calls[calls_before_restart:] if c.method == "getUpdates"]
        assert resumed[0].params["offset"] == saved
        handed_out = [i for c in resumed for i in c.update_ids]
        assert min(handed_out) == saved
        last = max(handed_out) + 1

        async def saved_to_the_end() -> bool:
            cursor = await second.storage.cursors.get_cursor(SOURCE, "offset")
            return cursor is not None and json.loads(cursor)["offset"] == last

        await until(second, saved_to_the_end)
    finally:
        await second.stop()
