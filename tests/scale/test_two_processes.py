"""Two bridge processes on one PostgreSQL and one Redis behave as one system.

Each runtime here is what one `bridge serve` process builds; they share nothing but the
database and Redis, as two processes would.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bridge.clock import SystemClock
from bridge.events import ConversationOpened, MessageAdded
from bridge.model import ThreadRef
from bridge.ports import NewAgent
from bridge.tokens import hash_token, new_token
from runtime.app import Runtime
from tests.factories import inbound
from tests.harness import test_settings as settings_for
from tests.webchat.test_adapter import next_frame, send_message

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def two_processes(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> AsyncIterator[tuple[Runtime, Runtime]]:
    prefix = f"test-{secrets.token_hex(4)}"
    storage = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "files_dir": str(tmp_path / "files"),
    }
    async with AsyncExitStack() as stack:
        runtimes = []
        for _ in range(2):
            runtime = Runtime(
                settings_for(
                    tmp_path, storage=storage, routing={"acknowledgements": {"enabled": False}}
                )
            )
            await runtime.start()
            stack.push_async_callback(runtime.stop)
            runtimes.append(runtime)
        yield runtimes[0], runtimes[1]


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        for _ in iter(int, 1):  # until the check holds or the timeout fires
            if check():
                return
            await asyncio.sleep(0.02)


async def test_an_inbound_message_on_one_process_is_live_on_the_other(
    tmp_path: Path, fresh_postgres: str, redis_url: str
) -> None:
    async with two_processes(tmp_path, fresh_postgres, redis_url) as (one, two):
        seen = two.bus.subscribe(frozenset({"message.added", "conversation.opened"}))
        result = await one.ingestor.ingest(
            inbound("m1", at=SystemClock().now(), thread=ThreadRef("webchat", "default", "v1"))
        )
        got = []
        async with asyncio.timeout(5):
            async for event in seen:
                got.append(event)
                if len(got) == 2:
                    break
        assert isinstance(got[0], ConversationOpened)
        assert isinstance(got[1], MessageAdded)
        assert got[1].message.id == result.message.id
        # The other process's router learned about the new conversation too.
        await until(lambda: two.router.state.queue.position(result.conversation.id) is not None)
        assert two.bus.state().ready


async def test_two_agents_on_two_processes_never_take_the_same_conversation(
    tmp_path: Path, fresh_postgres: str, redis_url: str
) -> None:
    async with two_processes(tmp_path, fresh_postgres, redis_url) as (one, two):
        agents = []
        for name, runtime in (("ana", one), ("ben", two)):
            agent = await runtime.storage.agents.add_agent(
                NewAgent(name, f"{name}@example.com", capacity=10),
                hash_token(new_token("brg")),
                runtime.clock.now(),
            )
            agents.append(agent)
        for i in range(8):
            await one.ingestor.ingest(
                inbound(
                    f"m{i}", at=SystemClock().now(), thread=ThreadRef("webchat", "default", f"v{i}")
                )
            )
        await until(lambda: two.router.state.queue.length(("support", 1)) == 8)
        taken = await asyncio.gather(
            *[one.router.take_next(agents[0]) for _ in range(5)],
            *[two.router.take_next(agents[1]) for _ in range(5)],
        )
        ids = [c.id for c in taken if c is not None]
        assert len(ids) == 8
        assert len(set(ids)) == 8


async def test_a_reply_sent_by_one_process_reaches_a_visitor_connected_to_the_other(
    tmp_path: Path, fresh_postgres: str, redis_url: str
) -> None:
    async with two_processes(tmp_path, fresh_postgres, redis_url) as (one, two):
        # Only the second process sends; the visitor's socket is on the first.
        await one.dispatcher.stop()
        server = TestServer(one.web_app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(server.make_url("/webchat/sessions"), json={}) as response:
                    token = (await response.json())["token"]
                ws = await http.ws_connect(server.make_url(f"/webchat/ws?token={token}"))
                await next_frame(ws, "status")
                await send_message(ws, "hello from process one", "c1")
                mine = await next_frame(ws, "message")
                agent = await two.storage.agents.add_agent(
                    NewAgent("Bea", "bea@example.com"),
                    hash_token(new_token("brg")),
                    two.clock.now(),
                )
                await two.service.reply(
                    await _conversation_of(two, mine["id"]),
                    agent,
                    "answered from process two",
                    internal=False,
                )
                reply = await next_frame(ws, "message")
                await ws.close()
        finally:
            await server.close()
    assert reply["text"] == "answered from process two"


async def _conversation_of(runtime: Runtime, message_id: int) -> int:
    message = await runtime.storage.conversations.get_message(message_id)
    return message.conversation_id
