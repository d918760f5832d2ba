"""Many agents taking the head of the queue at once: every conversation is handed out once,
nobody goes above capacity, and SQLite and PostgreSQL agree."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.databases import PostgresServer
from tests.routing.router_support import NO_ACKS, Desk, Reply, Staff, open_desk

CONVERSATIONS = 60
AGENTS = 10
CAPACITY = 6
REQUESTS_PER_AGENT = 8


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind (PostgreSQL fails, not skips, under CI=true)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/bridge.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


async def fill_queue(desk: Desk) -> list[int]:
    ingestor = desk.bridge.runtime.ingestor
    results = await asyncio.gather(
        *(ingestor.ingest(desk.message(f"visitor-{n}", after=0.01)) for n in range(CONVERSATIONS))
    )
    await desk.settle()
    return [r.conversation.id for r in results]


async def test_concurrent_take_next_hands_each_conversation_out_once(
    tmp_path: Path, store_url: str
) -> None:
    async with open_desk(tmp_path, storage={"database_url": store_url}, routing=NO_ACKS) as desk:
        expected = "sqlite" if store_url.startswith("sqlite") else "postgresql"
        assert desk.bridge.runtime.storage.database.dialect == expected
        ids = await fill_queue(desk)
        assert len(set(ids)) == CONVERSATIONS
        # Away: nothing is assigned on its own; taking the head does not need presence.
        agents: list[Staff] = [
            await desk.staff(f"Agent {n}", capacity=CAPACITY, presence="away")
            for n in range(AGENTS)
        ]
        assert (await desk.queue(agents[0]))["length"] == CONVERSATIONS

        async def take(staff: Staff) -> tuple[Staff, Reply]:
            path = desk.bridge.url("/api/queue/next")
            async with desk.bridge.http.post(path, headers=staff.headers) as response:
                body = await response.json() if response.status == 200 else None
                return staff, Reply(response.status, body)

        results = await asyncio.gather(
            *(take(staff) for staff in agents for _ in range(REQUESTS_PER_AGENT))
        )
        await desk.settle()

        handed = [(staff.id, reply.body["id"]) for staff, reply in results if reply.status == 200]
        statuses = Counter(reply.status for _, reply in results)
        assert set(statuses) <= {200, 204, 409}, statuses
        taken_ids = [conversation_id for _, conversation_id in handed]
        assert len(taken_ids) == len(set(taken_ids)), "a conversation was handed out twice"
        assert len(handed) == min(CONVERSATIONS, AGENTS * CAPACITY)
        assert sorted(taken_ids) == sorted(ids)
        per_agent = Counter(agent_id for agent_id, _ in handed)
        assert max(per_agent.values()) <= CAPACITY
        assert per_agent == {staff.id: CAPACITY for staff in agents}

        # What the responses said is what the store holds.
        for staff in agents:
            reply = await desk.call(
                "GET", f"/api/conversations?status=assigned&assignee={staff.id}", staff
            )
            held = sorted(c["id"] for c in reply.body["items"])
            assert held == sorted(c for a, c in handed if a == staff.id)
        queue = await desk.queue(agents[0])
        assert queue == {"items": [], "length": 0}
        # And the router's view of the loads agrees.
        report = await desk.call("GET", "/api/stats", agents[0])
        loads = {a["id"]: a["load"] for a in report.body["live"]["agents"]}
        assert all(loads[staff.id] == CAPACITY for staff in agents), loads


async def test_the_store_keeps_the_rules_for_several_routers_at_once(
    tmp_path: Path, store_url: str
) -> None:
    """Several processes have one router each, and so no shared lock: the store's
    transactions alone must keep "once" and "within capacity" (on PostgreSQL these really run
    in parallel, on separate connections)."""
    async with open_desk(tmp_path, storage={"database_url": store_url}, routing=NO_ACKS) as desk:
        ids = await fill_queue(desk)
        agents = [
            await desk.staff(f"Agent {n}", capacity=CAPACITY, presence="away")
            for n in range(AGENTS)
        ]
        store = desk.bridge.runtime.storage.routing
        now = desk.clock.now()
        results = await asyncio.gather(
            *(
                store.take_next(staff.id, ("support",), 1, CAPACITY, now)
                for staff in agents
                for _ in range(REQUESTS_PER_AGENT)
            )
        )
        taken = [conversation for _, conversation in results if conversation is not None]
        taken_ids = [c.id for c in taken]
        assert len(taken_ids) == len(set(taken_ids)) == CONVERSATIONS
        assert sorted(taken_ids) == sorted(ids)
        per_agent = Counter(c.assignee_id for c in taken)
        assert per_agent == {staff.id: CAPACITY for staff in agents}


async def test_taking_next_follows_the_listed_queue_after_a_reply_to_a_waiting_customer(
    tmp_path: Path, store_url: str
) -> None:
    """An agent may answer a queued conversation without taking it: the customer no longer
    waits, so the live queue drops it. Taking the head must still hand out the head the queue
    shows, on either store."""
    async with open_desk(tmp_path, storage={"database_url": store_url}, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]
        answered = await desk.reply(ids[2], mia, "Quick answer: yes, we ship to Madeira.")
        assert answered.status == 201
        assert await desk.queued_ids(mia) == ids[:2]
        taken = [(await desk.take_next(mia)).body["id"] for _ in range(2)]
        assert taken == ids[:2]
