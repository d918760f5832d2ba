"""PostgreSQL restarted: the bridge's database (a private cluster) is shut down (fast mode)
for a few seconds and started again.

Meanwhile ``/readyz`` shows the storage down, and nobody gets a false acknowledgement: a
visitor's message gets a "try again" error frame instead of its echo, the API answers 503 with
Retry-After, a new web chat session 503. A send that was under way when the database went
away is recorded once it is back. Afterwards, with nobody doing anything, the pool reconnects,
the visitor's resend is stored once, and the replies queued in the outbox go out in order,
each exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bridge.clock import SystemClock
from bridge.model import Author, ThreadRef
from tests.factories import inbound
from tests.fakes import RecordingAdapter
from tests.harness import Running, running_bridge
from tests.scale.outages import readyz, until
from tests.scale.servers import PostgresCluster
from tests.webchat.test_adapter import next_frame, send_message

pytestmark = pytest.mark.postgres

SMS = ThreadRef("sms", "default", "+351900000002")
ROUNDS = 3
OUTAGE_SECONDS = 4.0


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    server = PostgresCluster().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def bridge(tmp_path: Path, cluster: PostgresCluster) -> AsyncIterator[Running]:
    admin = await asyncpg.connect(cluster.dsn(), timeout=10)
    try:
        await admin.execute('CREATE DATABASE "bridge"')
    finally:
        await admin.close()
    async with running_bridge(
        tmp_path,
        storage={"database_url": cluster.url("bridge"), "files_dir": str(tmp_path / "files")},
        routing={"acknowledgements": {"enabled": False}},
        outbox={"retry_initial": 0.2, "retry_max": 1.0, "max_attempts": 200},
    ) as running:
        yield running


async def post_reply(bridge: Running, conversation: int, text: str, key: str) -> int:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": text, "internal": False},
        headers={**bridge.auth, "Idempotency-Key": key},
    ) as response:
        return response.status


@pytest.mark.timeout(90)
async def test_a_database_restart_refuses_honestly_and_loses_nothing(
    bridge: Running, cluster: PostgresCluster
) -> None:
    runtime = bridge.runtime
    # A channel whose platform is slow right now: the first reply's send is under way when
    # the database goes, the others queue behind it in the outbox.
    platform = asyncio.Event()
    adapter = RecordingAdapter(channel="sms", gate=platform)
    runtime.adapters["sms:default"] = adapter
    sms = await runtime.ingestor.ingest(
        inbound("sms-1", at=SystemClock().now(), thread=SMS, text="where is my parcel?")
    )
    conversation = sms.conversation.id
    for n in range(ROUNDS):
        assert await post_reply(bridge, conversation, f"answer {n}", f"a{n}") == 201
    await until(_true(lambda: adapter.calls == 1), what="the first send under way")

    async with aiohttp.ClientSession() as http:
        async with http.post(bridge.url("/webchat/sessions"), json={}) as response:
            token = (await response.json())["token"]
        ws = await http.ws_connect(bridge.url(f"/webchat/ws?token={token}"))
        await next_frame(ws, "status")
        await send_message(ws, "before the restart", "w0")
        assert (await next_frame(ws, "message"))["text"] == "before the restart"

        loop = asyncio.get_running_loop()
        cluster.stop()
        stopped = loop.time()

        # The visitor is told to try again, not acknowledged.
        await send_message(ws, "during the restart", "w1")
        refused = await next_frame(ws, "error")
        assert refused["reason"] == "temporarily_unavailable"
        assert refused["client_msg_id"] == "w1"
        # The API and a new session say 503, with Retry-After; never 500, never 201.
        async with bridge.http.post(
            bridge.url(f"/api/conversations/{conversation}/messages"),
            json={"text": "lost?", "internal": False},
            headers={**bridge.auth, "Idempotency-Key": "lost"},
        ) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "5"
            assert (await response.json())["error"] == "temporarily_unavailable"
        async with http.post(bridge.url("/webchat/sessions"), json={}) as response:
            assert response.status == 503
        body = await readyz(bridge.http, bridge.base_url)
        assert body["ready"] is False
        storage = body["components"]["storage"]
        assert storage["health"] == "down"
        assert "cannot be reached" in storage["detail"]

        # The platform answers while the database is away: the outcome waits to be recorded.
        platform.set()
        await adapter.wait_for(1)
        # The outage lasts its few seconds (longer than the runtime's checks and the outbox's
        # retries): it is the scenario, not a wait for something to happen.
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (loop.time() - stopped)))
        assert [s.text for s in adapter.sent] == ["answer 0"]

        cluster.start()  # same port, same data; nobody touches the bridge

        async def storage_ok() -> bool:
            return (await readyz(bridge.http, bridge.base_url))["components"]["storage"][
                "health"
            ] == "ok"

        await until(storage_ok, what="/readyz shows the storage back")
        # The visitor's client resends with the same id (as the widget does): stored once.
        await send_message(ws, "during the restart", "w1")
        assert (await next_frame(ws, "message"))["text"] == "during the restart"
        await send_message(ws, "during the restart", "w1")
        assert (await next_frame(ws, "message"))["text"] == "during the restart"
        # The agent's retry of the refused request is accepted now.
        assert await post_reply(bridge, conversation, "answer 3", "a3") == 201
        await ws.close()

    await adapter.wait_for(ROUNDS + 1)

    async def all_sent() -> bool:
        deliveries = await runtime.storage.conversations.deliveries_for(conversation)
        return [d.state for d in deliveries] == ["sent"] * (ROUNDS + 1)

    await until(all_sent, what="every reply recorded as sent")
    assert [s.text for s in adapter.sent] == [f"answer {n}" for n in range(ROUNDS + 1)]
    assert adapter.duplicates == 0
    page = await runtime.storage.conversations.list_conversations()
    web = next(c for c in page.items if c.origin.channel == "webchat")
    texts = [m.text for m in await runtime.storage.conversations.messages(web.id)]
    assert texts == ["before the restart", "during the restart"]
    replies = await runtime.storage.conversations.messages(conversation)
    assert [m.text for m in replies if m.author is Author.AGENT] == [
        f"answer {n}" for n in range(ROUNDS + 1)
    ]


def _true(check: Any) -> Any:
    async def wrapped() -> bool:
        return bool(check())

    return wrapped


async def test_after_a_quick_restart_the_next_requests_are_served(
    bridge: Running, cluster: PostgresCluster
) -> None:
    # Connections the pool holds (several requests at once leave several behind).
    async def conversations() -> int:
        async with bridge.http.get(bridge.url("/api/conversations"), headers=bridge.auth) as r:
            return r.status

    assert await asyncio.gather(*(conversations() for _ in range(8))) == [200] * 8
    cluster.stop()
    cluster.start()
    # Each of those connections was closed by the restart; none may fail a request now.
    assert await asyncio.gather(*(conversations() for _ in range(8))) == [200] * 8
    async with bridge.http.post(bridge.url("/webchat/sessions"), json={}) as response:
        assert response.status == 201  # a write, too
