"""Redis restarted: two bridge processes on one PostgreSQL share a Redis of their own, which is
killed (SIGKILL) and started again empty on the same port.

Meanwhile customers are still answered (the database is the source of truth), ``/readyz``
shows the bus and the locks degraded on both processes, and the singleton loops pause. After
the restart nobody does anything: the bus reconnects, the events held back while Redis was
away reach the agent connected to the other process, live events flow again, and exactly one
process takes the singleton loop back.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bridge.model import Author
from bridge.ports import NewAgent
from bridge.tokens import hash_token, new_token
from runtime.app import Runtime
from storage.locks import RedisSingletons
from tests.harness import test_settings as settings_for
from tests.scale.outages import component, until
from tests.scale.servers import RedisServer
from tests.webchat.test_adapter import next_frame, send_message
from web.app import runner_options

pytestmark = pytest.mark.postgres

LOOP = "outage-probe"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@asynccontextmanager
async def two_processes(
    tmp_path: Path, fresh_postgres: str, redis_url: str
) -> AsyncIterator[list[tuple[Runtime, TestServer]]]:
    storage = {
        "database_url": fresh_postgres,
        "redis_url": redis_url,
        "redis_prefix": f"outage-{secrets.token_hex(4)}",
        "files_dir": str(tmp_path / "files"),
    }
    async with AsyncExitStack() as stack:
        processes = []
        for _ in range(2):
            runtime = Runtime(
                settings_for(
                    tmp_path, storage=storage, routing={"acknowledgements": {"enabled": False}}
                )
            )
            await runtime.start()
            stack.push_async_callback(runtime.stop)
            server = TestServer(runtime.web_app, host="127.0.0.1")
            await server.start_server(**runner_options())
            stack.push_async_callback(server.close)
            processes.append((runtime, server))
        yield processes


class AgentStream:
    """An agent's live events (``GET /api/events``), read as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.texts: asyncio.Queue[str] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        kind = ""
        async for raw in self._response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "message.added":
                payload: dict[str, Any] = json.loads(line.removeprefix("data: "))
                await self.texts.put(payload["message"]["text"])

    async def next_text(self, timeout: float = 15.0) -> str:
        async with asyncio.timeout(timeout):
            return await self.texts.get()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._response.close()


@pytest.mark.timeout(90)
async def test_a_redis_restart_delays_live_events_and_loses_nothing(
    tmp_path: Path, fresh_postgres: str, redis_server: RedisServer
) -> None:
    async with two_processes(tmp_path, fresh_postgres, redis_server.url) as processes:
        (one, one_server), (two, two_server) = processes
        token = new_token("brg")
        await one.storage.agents.add_agent(
            NewAgent("Bea Santos", "bea@example.com"), hash_token(token), one.clock.now()
        )
        auth = {"Authorization": f"Bearer {token}"}
        running: dict[str, int] = {}

        def probe(name: str) -> Any:
            async def work() -> None:
                running[name] = running.get(name, 0) + 1
                try:
                    await asyncio.Event().wait()
                finally:
                    running[name] -= 1

            return work

        loops = []
        for name, runtime in (("one", one), ("two", two)):
            assert isinstance(runtime.singletons, RedisSingletons)
            loops.append(asyncio.create_task(runtime.singletons.run(LOOP, probe(name))))

        async def one_runs_the_loop() -> bool:
            return sum(running.values()) == 1

        async with aiohttp.ClientSession() as http:
            stream_response = await http.get(
                two_server.make_url("/api/events?kinds=message.added"), headers=auth
            )
            agent = AgentStream(stream_response)
            try:
                await until(one_runs_the_loop, what="one process runs the singleton loop")
                # A visitor on process one; the agent watches from process two.
                async with http.post(one_server.make_url("/webchat/sessions"), json={}) as r:
                    visitor = (await r.json())["token"]
                ws = await http.ws_connect(one_server.make_url(f"/webchat/ws?token={visitor}"))
                await next_frame(ws, "status")
                await send_message(ws, "before the restart", "m0")
                assert (await next_frame(ws, "message"))["text"] == "before the restart"
                assert await agent.next_text() == "before the restart"

                redis_server.kill()
                for _runtime, server in processes:

                    async def degraded(server: TestServer = server) -> bool:
                        bus = await component(http, server.make_url("/"), "bus")
                        locks = await component(http, server.make_url("/"), "locks")
                        return bus["health"] == locks["health"] == "degraded"

                    await until(degraded, what="/readyz shows the bus and locks degraded")
                state = await component(http, two_server.make_url("/"), "bus")
                assert state["detail"].startswith("Redis: ")
                locks = await component(http, one_server.make_url("/"), "locks")
                assert LOOP in locks["detail"]

                async def loop_paused() -> bool:
                    return sum(running.values()) == 0

                # Nobody can be sure to hold the lease: the loop stops everywhere.
                await until(loop_paused, what="the singleton loop paused")

                # Customers are still answered: each message is stored and echoed.
                during = [f"during the outage {n}" for n in range(3)]
                for n, text in enumerate(during):
                    await send_message(ws, text, f"m{n + 1}")
                    echo = await next_frame(ws, "message")
                    assert echo["text"] == text
                assert agent.texts.empty()  # live events across processes wait for Redis

                redis_server.start()  # same port, empty
                for _runtime, server in processes:

                    async def recovered(server: TestServer = server) -> bool:
                        ready = await http.get(server.make_url("/readyz"))
                        body = await ready.json()
                        ready.close()
                        parts = body["components"]
                        return parts["bus"]["health"] == parts["locks"]["health"] == "ok"

                    await until(recovered, what="/readyz shows the bus and locks back")
                # The events held back while Redis was away arrive, in order, then live ones.
                assert [await agent.next_text() for _ in during] == during
                await send_message(ws, "after the restart", "m9")
                await next_frame(ws, "message")
                assert await agent.next_text() == "after the restart"
                await until(one_runs_the_loop, what="one process runs the loop again")
                await ws.close()
            finally:
                await agent.close()
                for loop in loops:
                    loop.cancel()
                await asyncio.gather(*loops, return_exceptions=True)

        # Every customer message stored exactly once.
        [conversation] = (await two.storage.conversations.list_conversations()).items
        messages = await two.storage.conversations.messages(conversation.id)
        assert [m.text for m in messages if m.author is Author.CUSTOMER] == [
            "before the restart",
            *during,
            "after the restart",
        ]
