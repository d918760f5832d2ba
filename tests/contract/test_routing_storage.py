"""The routing store contract: every case runs on SQLite and on PostgreSQL.

Capacity and "one conversation, one agent" are the store's promises, whatever the router's
in-memory view believes; the waits rows are what promises and SLA reports are computed from.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bridge.clock import ManualClock
from bridge.errors import NotFound
from bridge.gate import plan_deliveries
from bridge.model import (
    Agent,
    Author,
    Conversation,
    ConversationStatus,
    Presence,
    Priority,
    ThreadRef,
    Visibility,
)
from bridge.ports import (
    AssignResult,
    ConversationPolicy,
    NewAgent,
    NewAgentMessage,
    PostedMessage,
)
from storage.store import Storage
from tests.factories import inbound

POLICY = ConversationPolicy(reopen_window=timedelta(hours=24))
ASSIGNED = AssignResult.ASSIGNED
FULL = AssignResult.FULL
TAKEN = AssignResult.TAKEN


# --- builders ----------------------------------------------------------------------------


async def open_conversation(
    storage: Storage,
    clock: ManualClock,
    key: str,
    *,
    team: str = "support",
    tier: int = 1,
    priority: Priority = Priority.NORMAL,
    channel: str = "webchat",
    at: datetime | None = None,
) -> Conversation:
    """A new conversation on its own thread, opened by the real ingest path."""
    policy = replace(POLICY, default_team=team, default_tier=tier, default_priority=priority)
    thread = ThreadRef(channel, "default", key)
    item = inbound(f"{key}-0", at=at or clock.now(), thread=thread)
    [result] = await storage.ingest.ingest_batch([item], policy, clock.now())
    assert result.opened
    return result.conversation


async def customer_writes(
    storage: Storage, clock: ManualClock, conversation: Conversation, external_id: str
) -> Conversation:
    item = inbound(external_id, at=clock.now(), thread=conversation.origin)
    [result] = await storage.ingest.ingest_batch([item], POLICY, clock.now())
    assert result.conversation.id == conversation.id
    return result.conversation


async def agent_replies(
    storage: Storage,
    clock: ManualClock,
    conversation_id: int,
    *,
    internal: bool = False,
) -> PostedMessage:
    new = NewAgentMessage(
        conversation_id=conversation_id,
        author=Author.AGENT,
        author_id=1,
        author_name="Bea",
        text="on it",
        visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
    )
    return await storage.conversations.post_message(new, plan_deliveries, clock.now())


async def add_agent(
    storage: Storage,
    clock: ManualClock,
    name: str,
    *,
    teams: tuple[str, ...] = ("support",),
    tier: int = 1,
    capacity: int = 6,
) -> Agent:
    return await storage.agents.add_agent(
        NewAgent(
            name,
            f"{name.lower()}@example.com",
            tier=tier,
            teams=teams,
            capacity=capacity,
            presence=Presence.ONLINE,
        ),
        hashlib.sha256(name.encode()).hexdigest(),
        clock.now(),
    )


async def assign(
    storage: Storage, clock: ManualClock, conversation: Conversation, agent: Agent
) -> Conversation:
    result, assigned = await storage.routing.assign(
        conversation.id, agent.id, agent.capacity, clock.now()
    )
    assert result is ASSIGNED
    assert assigned is not None
    return assigned


async def status_of(storage: Storage, conversation_id: int) -> ConversationStatus:
    return (await storage.conversations.get_conversation(conversation_id)).status


# --- assign ------------------------------------------------------------------------------


async def test_assign_gives_a_queued_conversation_to_the_agent(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    queued = await open_conversation(storage, clock, "v1")
    clock.advance(30)
    result, assigned = await storage.routing.assign(queued.id, bea.id, 2, clock.now())
    assert result is ASSIGNED
    assert assigned is not None
    assert assigned.status is ConversationStatus.ASSIGNED
    assert assigned.assignee_id == bea.id
    assert assigned.assigned_at == clock.now()
    assert assigned.updated_at == clock.now()
    # Still waiting for the agent's first reply: the assignment does not answer anybody.
    assert assigned.waiting_since == queued.waiting_since
    assert await storage.conversations.get_conversation(queued.id) == assigned


async def test_assign_stamps_the_agents_last_assignment(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    one = await open_conversation(storage, clock, "v1")
    two = await open_conversation(storage, clock, "v2")
    assert bea.last_assigned_at is None
    clock.advance(10)
    await assign(storage, clock, one, bea)
    assert (await storage.agents.get_agent(bea.id)).last_assigned_at == clock.now()
    clock.advance(10)
    await storage.routing.take_next(bea.id, bea.teams, bea.tier, bea.capacity, clock.now())
    assert (await storage.conversations.get_conversation(two.id)).assignee_id == bea.id
    assert (await storage.agents.get_agent(bea.id)).last_assigned_at == clock.now()


async def test_assign_refuses_an_agent_at_capacity(storage: Storage, clock: ManualClock) -> None:
    bea = await add_agent(storage, clock, "Bea", capacity=2)
    one, two, three = [await open_conversation(storage, clock, f"v{n}") for n in range(3)]
    await assign(storage, clock, one, bea)
    await assign(storage, clock, two, bea)
    before = await storage.agents.get_agent(bea.id)
    clock.advance(5)
    assert await storage.routing.assign(three.id, bea.id, 2, clock.now()) == (FULL, None)
    assert await storage.conversations.get_conversation(three.id) == three
    assert (await storage.agents.get_agent(bea.id)).last_assigned_at == before.last_assigned_at
    # The capacity is the caller's: the same agent with room for three takes it.
    result, _ = await storage.routing.assign(three.id, bea.id, 3, clock.now())
    assert result is ASSIGNED


async def test_conversations_waiting_on_the_customer_do_not_count_against_capacity(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea", capacity=1)
    held = await assign(storage, clock, await open_conversation(storage, clock, "v1"), bea)
    waiting = await open_conversation(storage, clock, "v2")
    assert (await storage.routing.assign(waiting.id, bea.id, 1, clock.now()))[0] is FULL
    await agent_replies(storage, clock, held.id)
    await storage.conversations.set_status(
        held.id, ConversationStatus.PENDING_CUSTOMER, clock.now()
    )
    result, assigned = await storage.routing.assign(waiting.id, bea.id, 1, clock.now())
    assert result is ASSIGNED
    assert assigned is not None
    assert assigned.assignee_id == bea.id


async def test_assign_reports_taken_when_the_conversation_is_not_queued(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    cem = await add_agent(storage, clock, "Cem")
    conversation = await open_conversation(storage, clock, "v1")
    mine = await assign(storage, clock, conversation, bea)
    assert await storage.routing.assign(conversation.id, cem.id, 6, clock.now()) == (TAKEN, None)
    assert await storage.conversations.get_conversation(conversation.id) == mine
    assert (await storage.agents.get_agent(cem.id)).last_assigned_at is None
    resolved = await open_conversation(storage, clock, "v2")
    await storage.conversations.set_status(resolved.id, ConversationStatus.RESOLVED, clock.now())
    assert await storage.routing.assign(resolved.id, cem.id, 6, clock.now()) == (TAKEN, None)
    assert await status_of(storage, resolved.id) is ConversationStatus.RESOLVED


async def test_assign_to_a_missing_agent_is_not_found(storage: Storage, clock: ManualClock) -> None:
    conversation = await open_conversation(storage, clock, "v1")
    with pytest.raises(NotFound):
        await storage.routing.assign(conversation.id, 999, 6, clock.now())
    assert await status_of(storage, conversation.id) is ConversationStatus.QUEUED


async def test_concurrent_assigns_to_one_agent_never_exceed_capacity(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea", capacity=3)
    conversations = [await open_conversation(storage, clock, f"v{n}") for n in range(10)]
    results = await asyncio.gather(
        *(storage.routing.assign(c.id, bea.id, 3, clock.now()) for c in conversations)
    )
    outcomes = [result for result, _ in results]
    assert outcomes.count(ASSIGNED) == 3
    assert outcomes.count(FULL) == 7
    [load] = [entry.load for entry in await storage.routing.agent_loads()]
    assert load == 3


async def test_concurrent_assigns_of_one_conversation_give_it_to_one_agent(
    storage: Storage, clock: ManualClock
) -> None:
    agents = [await add_agent(storage, clock, f"Agent{n}") for n in range(6)]
    conversation = await open_conversation(storage, clock, "v1")
    results = await asyncio.gather(
        *(storage.routing.assign(conversation.id, a.id, 6, clock.now()) for a in agents)
    )
    winners = [updated for result, updated in results if result is ASSIGNED]
    assert len(winners) == 1
    assert [result for result, _ in results].count(TAKEN) == 5
    stored = await storage.conversations.get_conversation(conversation.id)
    assert stored.assignee_id == winners[0].assignee_id
    assert sum(entry.load for entry in await storage.routing.agent_loads()) == 1


# --- take_next ---------------------------------------------------------------------------


async def test_take_next_serves_the_head_across_the_agents_teams_within_their_tier(
    storage: Storage, clock: ManualClock
) -> None:
    start = clock.now()
    a = await open_conversation(storage, clock, "a", at=start)
    tie = await open_conversation(storage, clock, "tie", at=start)
    b = await open_conversation(
        storage, clock, "b", team="billing", at=start - timedelta(seconds=30)
    )
    c = await open_conversation(
        storage, clock, "c", priority=Priority.HIGH, at=start + timedelta(seconds=60)
    )
    other_tier = await open_conversation(
        storage, clock, "d", tier=2, priority=Priority.URGENT, at=start - timedelta(hours=1)
    )
    other_team = await open_conversation(
        storage, clock, "e", team="sales", priority=Priority.URGENT, at=start - timedelta(hours=1)
    )
    bea = await add_agent(storage, clock, "Bea", teams=("support", "billing"), capacity=10)
    clock.advance(120)

    taken = []
    for _ in range(4):
        result, conversation = await storage.routing.take_next(
            bea.id, bea.teams, bea.tier, bea.capacity, clock.now()
        )
        assert result is ASSIGNED
        assert conversation is not None
        assert conversation.status is ConversationStatus.ASSIGNED
        assert conversation.assignee_id == bea.id
        assert conversation.assigned_at == clock.now()
        taken.append(conversation.id)
    # Priority first (across teams), then arrival, then id on a tie of arrival.
    assert taken == [c.id, b.id, a.id, tie.id]
    assert await storage.routing.take_next(
        bea.id, bea.teams, bea.tier, bea.capacity, clock.now()
    ) == (TAKEN, None)
    # Another tier's and another team's customers are not hers, however urgent.
    assert await status_of(storage, other_tier.id) is ConversationStatus.QUEUED
    assert await status_of(storage, other_team.id) is ConversationStatus.QUEUED


async def test_take_next_without_priority_classes_serves_arrival_order(
    storage: Storage, clock: ManualClock
) -> None:
    start = clock.now()
    urgent = await open_conversation(
        storage, clock, "u", priority=Priority.URGENT, at=start + timedelta(seconds=60)
    )
    normal = await open_conversation(storage, clock, "n", at=start)
    billing = await open_conversation(
        storage, clock, "b", team="billing", priority=Priority.LOW, at=start + timedelta(seconds=30)
    )
    bea = await add_agent(storage, clock, "Bea", teams=("support", "billing"))
    taken = []
    for _ in range(3):
        _, conversation = await storage.routing.take_next(
            bea.id, bea.teams, 1, 6, clock.now(), by_priority=False
        )
        assert conversation is not None
        taken.append(conversation.id)
    assert taken == [normal.id, billing.id, urgent.id]


async def test_take_next_skips_answered_conversations_nobody_holds(
    storage: Storage, clock: ManualClock
) -> None:
    answered = await open_conversation(storage, clock, "a", at=clock.now() - timedelta(hours=1))
    await agent_replies(storage, clock, answered.id)  # answered from the queue: nobody waits
    waiting = await open_conversation(storage, clock, "w")
    bea = await add_agent(storage, clock, "Bea")
    result, taken = await storage.routing.take_next(bea.id, bea.teams, 1, 6, clock.now())
    assert result is ASSIGNED
    assert taken is not None
    assert taken.id == waiting.id
    assert await storage.routing.take_next(bea.id, bea.teams, 1, 6, clock.now()) == (TAKEN, None)
    assert await status_of(storage, answered.id) is ConversationStatus.QUEUED


async def test_take_next_on_an_empty_queue_is_taken_with_nothing(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    assert await storage.routing.take_next(bea.id, bea.teams, 1, 6, clock.now()) == (TAKEN, None)
    assert (await storage.agents.get_agent(bea.id)).last_assigned_at is None


async def test_take_next_at_capacity_is_full_and_takes_nothing(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea", capacity=1)
    held = await open_conversation(storage, clock, "v1")
    waiting = await open_conversation(storage, clock, "v2")
    await assign(storage, clock, held, bea)
    assert await storage.routing.take_next(bea.id, bea.teams, 1, 1, clock.now()) == (FULL, None)
    assert await status_of(storage, waiting.id) is ConversationStatus.QUEUED
    with pytest.raises(NotFound):
        await storage.routing.take_next(999, ("support",), 1, 1, clock.now())


async def test_concurrent_take_next_never_hands_a_conversation_out_twice(
    storage: Storage, clock: ManualClock
) -> None:
    """30 requests from 6 agents at once, 20 customers, 18 slots (on PostgreSQL: the queue's
    head claimed with SKIP LOCKED, the agent's row locked for the capacity check)."""
    items = [
        inbound(
            f"m{n}",
            at=clock.now() + timedelta(seconds=n),
            thread=ThreadRef("webchat", "d", f"v{n}"),
        )
        for n in range(20)
    ]
    opened = await storage.ingest.ingest_batch(items, POLICY, clock.now())
    agents = [await add_agent(storage, clock, f"Agent{n}", capacity=3) for n in range(6)]
    clock.advance(60)

    calls = [(a, n) for n in range(5) for a in agents]
    results = await asyncio.gather(
        *(
            storage.routing.take_next(a.id, a.teams, a.tier, a.capacity, clock.now())
            for a, _ in calls
        )
    )

    handed = [(agent.id, c.id) for (agent, _), (result, c) in zip(calls, results, strict=True) if c]
    assert all((result is ASSIGNED) == (c is not None) for result, c in results)
    ids = [cid for _, cid in handed]
    assert len(ids) == len(set(ids)), "a conversation was handed out twice"
    assert len(ids) == 18  # every slot filled: there was always someone left to take
    assert [result for result, _ in results].count(FULL) == 12
    stored = {c.id: c for c in await storage.routing.assigned()}
    assert {cid: c.assignee_id for cid, c in stored.items()} == {cid: aid for aid, cid in handed}
    loads = {entry.agent.id: entry.load for entry in await storage.routing.agent_loads()}
    assert loads == {a.id: 3 for a in agents}
    # The two left are the last to arrive: the head was always served first.
    left = await storage.routing.queued()
    assert [c.id for c in left] == [r.conversation.id for r in opened[-2:]]


# --- requeue, presence, transfer ---------------------------------------------------------


async def test_requeue_agent_puts_their_conversations_back_in_their_places(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    cem = await add_agent(storage, clock, "Cem")
    unanswered = await open_conversation(storage, clock, "v1")
    answered = await open_conversation(storage, clock, "v2")
    pending = await open_conversation(storage, clock, "v3")
    others = await open_conversation(storage, clock, "v4")
    clock.advance(60)
    for conversation in (unanswered, answered, pending):
        await assign(storage, clock, conversation, bea)
    await assign(storage, clock, others, cem)
    await agent_replies(storage, clock, answered.id)
    await agent_replies(storage, clock, pending.id)
    await storage.conversations.set_status(
        pending.id, ConversationStatus.PENDING_CUSTOMER, clock.now()
    )
    clock.advance(300)

    moved = await storage.routing.requeue_agent(bea.id, clock.now())

    by_id = {c.id: c for c in moved}
    assert set(by_id) == {unanswered.id, answered.id}
    for conversation in moved:
        assert conversation.status is ConversationStatus.QUEUED
        assert conversation.assignee_id is None
        assert conversation.assigned_at is None
        assert conversation.updated_at == clock.now()
        assert await storage.conversations.get_conversation(conversation.id) == conversation
    # Still waiting: the place it had; answered: joins the line now.
    assert by_id[unanswered.id].waiting_since == unanswered.waiting_since
    assert by_id[answered.id].waiting_since == clock.now()
    assert await status_of(storage, pending.id) is ConversationStatus.PENDING_CUSTOMER
    assert (await storage.conversations.get_conversation(others.id)).assignee_id == cem.id
    assert await storage.routing.requeue_agent(bea.id, clock.now()) == []


async def test_set_presence_records_the_agents_presence(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    away = await storage.routing.set_presence(bea.id, Presence.AWAY, clock.now())
    assert away.presence is Presence.AWAY
    assert await storage.agents.get_agent(bea.id) == away
    with pytest.raises(NotFound):
        await storage.routing.set_presence(999, Presence.ONLINE, clock.now())


@pytest.mark.parametrize("keep_wait", [True, False])
async def test_transfer_moves_a_conversation_to_another_line(
    storage: Storage, clock: ManualClock, keep_wait: bool
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    expert = await add_agent(storage, clock, "Dan", teams=("billing",), tier=2)
    conversation = await assign(storage, clock, await open_conversation(storage, clock, "v1"), bea)
    clock.advance(600)

    moved = await storage.routing.transfer(
        conversation.id, "billing", 2, clock.now(), keep_wait=keep_wait
    )

    assert moved.status is ConversationStatus.QUEUED
    assert (moved.team, moved.tier) == ("billing", 2)
    assert moved.assignee_id is None
    assert moved.assigned_at is None
    assert moved.updated_at == clock.now()
    expected = conversation.waiting_since if keep_wait else clock.now()
    assert moved.waiting_since == expected
    assert await storage.conversations.get_conversation(conversation.id) == moved
    assert await storage.routing.take_next(bea.id, bea.teams, 1, 6, clock.now()) == (TAKEN, None)
    result, taken = await storage.routing.take_next(expert.id, expert.teams, 2, 6, clock.now())
    assert result is ASSIGNED
    assert taken is not None
    assert taken.id == conversation.id


async def test_transfer_of_an_answered_or_resolved_conversation_waits_from_now(
    storage: Storage, clock: ManualClock
) -> None:
    answered = await open_conversation(storage, clock, "v1")
    resolved = await open_conversation(storage, clock, "v2")
    await agent_replies(storage, clock, answered.id)
    await storage.conversations.set_status(resolved.id, ConversationStatus.RESOLVED, clock.now())
    clock.advance(60)
    moved = await storage.routing.transfer(answered.id, "billing", 1, clock.now(), keep_wait=True)
    assert moved.waiting_since == clock.now()
    reopened = await storage.routing.transfer(
        resolved.id, "support", 1, clock.now(), keep_wait=False
    )
    assert reopened.status is ConversationStatus.QUEUED
    assert reopened.resolved_at is None
    assert reopened.waiting_since == clock.now()
    with pytest.raises(NotFound):
        await storage.routing.transfer(999, "support", 1, clock.now(), keep_wait=True)


# --- idle conversations ------------------------------------------------------------------


async def test_idle_assigned_lists_answered_quiet_conversations_of_the_channel(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea", capacity=10)
    idle = await assign(storage, clock, await open_conversation(storage, clock, "idle"), bea)
    unanswered = await assign(storage, clock, await open_conversation(storage, clock, "u"), bea)
    queued = await open_conversation(storage, clock, "q")
    telegram = await assign(
        storage, clock, await open_conversation(storage, clock, "t", channel="telegram"), bea
    )
    late = await assign(storage, clock, await open_conversation(storage, clock, "late"), bea)
    for conversation in (idle, queued, telegram):
        await agent_replies(storage, clock, conversation.id)
    await agent_replies(storage, clock, unanswered.id, internal=True)  # a note answers nobody
    clock.advance(300)
    cutoff = clock.now()
    clock.advance(1)
    await agent_replies(storage, clock, late.id)  # answered after the cutoff: not quiet yet

    assert await storage.routing.idle_assigned("webchat", cutoff) == [idle.id]
    assert await storage.routing.idle_assigned("telegram", cutoff) == [telegram.id]
    assert await storage.routing.idle_assigned("webchat", idle.created_at) == []


async def test_set_pending_frees_an_answered_conversations_slot(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    held = await assign(storage, clock, await open_conversation(storage, clock, "v1"), bea)
    await agent_replies(storage, clock, held.id)
    clock.advance(600)
    pending = await storage.routing.set_pending(held.id, clock.now())
    assert pending is not None
    assert pending.status is ConversationStatus.PENDING_CUSTOMER
    assert pending.updated_at == clock.now()
    assert pending.assignee_id == bea.id  # still theirs, but not counted
    assert await storage.conversations.get_conversation(held.id) == pending
    [load] = await storage.routing.agent_loads()
    assert load.load == 0
    assert await storage.routing.idle_assigned("webchat", clock.now()) == []
    # Not assigned any more: a second call changes nothing.
    assert await storage.routing.set_pending(held.id, clock.now()) is None


async def test_set_pending_is_a_no_op_when_the_customer_wrote_meanwhile(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    held = await assign(storage, clock, await open_conversation(storage, clock, "v1"), bea)
    await agent_replies(storage, clock, held.id)
    clock.advance(600)
    assert await storage.routing.idle_assigned("webchat", clock.now()) == [held.id]
    wrote = await customer_writes(storage, clock, held, "m2")  # between the listing and the act
    assert await storage.routing.set_pending(held.id, clock.now()) is None
    stored = await storage.conversations.get_conversation(held.id)
    assert stored == wrote
    assert stored.status is ConversationStatus.ASSIGNED
    queued = await open_conversation(storage, clock, "v2")
    assert await storage.routing.set_pending(queued.id, clock.now()) is None
    assert await status_of(storage, queued.id) is ConversationStatus.QUEUED


# --- waits -------------------------------------------------------------------------------


async def test_ingest_opens_one_first_wait_per_new_conversation(
    storage: Storage, clock: ManualClock
) -> None:
    one = ThreadRef("webchat", "default", "v1")
    two = ThreadRef("telegram", "bot", "chat-2")
    a, a2, b = await storage.ingest.ingest_batch(
        [
            inbound("a1", at=clock.now(), thread=one),
            inbound("a2", at=clock.now() + timedelta(seconds=5), thread=one),
            inbound("b1", at=clock.now() + timedelta(seconds=7), thread=two),
        ],
        POLICY,
        clock.now() + timedelta(seconds=10),
    )
    assert a2.conversation.id == a.conversation.id
    waits = await storage.routing.open_waits()
    assert [(w.conversation_id, w.customer_id, w.channel, w.kind, w.started_at) for w in waits] == [
        (a.conversation.id, a.conversation.customer_id, "webchat", "first", clock.now()),
        (
            b.conversation.id,
            b.conversation.customer_id,
            "telegram",
            "first",
            clock.now() + timedelta(seconds=7),
        ),
    ]
    assert all(w.promised_at is None and w.breached_at is None for w in waits)
    # A second message while still waiting opens nothing.
    clock.advance(60)
    await customer_writes(storage, clock, a.conversation, "a3")
    assert len(await storage.routing.open_waits()) == 2


async def test_an_agent_reply_answers_the_wait_and_a_later_message_opens_the_next(
    storage: Storage, clock: ManualClock
) -> None:
    start = clock.now()
    conversation = await open_conversation(storage, clock, "v1")
    clock.advance(40)
    await agent_replies(storage, clock, conversation.id, internal=True)
    assert len(await storage.routing.open_waits()) == 1  # a note answers nobody
    clock.advance(50)
    answered_at = clock.now()
    await agent_replies(storage, clock, conversation.id)
    assert await storage.routing.open_waits() == []
    [first] = await storage.routing.waits_since(start)
    assert (first.kind, first.started_at) == ("first", start)
    assert first.answered_at == answered_at
    assert first.closed_at == answered_at
    assert await storage.routing.last_answer_at(conversation.id) == answered_at

    clock.advance(120)
    asked_at = clock.now()
    await customer_writes(storage, clock, conversation, "m2")
    [wait] = await storage.routing.open_waits()
    assert (wait.conversation_id, wait.kind, wait.started_at) == (conversation.id, "next", asked_at)
    clock.advance(30)
    await agent_replies(storage, clock, conversation.id)
    records = await storage.routing.waits_since(start)
    assert [(r.kind, r.started_at, r.answered_at) for r in records] == [
        ("first", start, answered_at),
        ("next", asked_at, clock.now()),
    ]
    assert await storage.routing.last_answer_at(conversation.id) == clock.now()
    assert await storage.routing.waits_since(asked_at) == records[1:]


async def test_resolve_closes_an_open_wait_unanswered(storage: Storage, clock: ManualClock) -> None:
    conversation = await open_conversation(storage, clock, "v1")
    other = await open_conversation(storage, clock, "v2")
    clock.advance(60)
    await storage.conversations.set_status(
        conversation.id, ConversationStatus.RESOLVED, clock.now()
    )
    assert [w.conversation_id for w in await storage.routing.open_waits()] == [other.id]
    records = await storage.routing.waits_since(conversation.created_at)
    assert [(r.answered_at, r.closed_at) for r in records] == [(None, clock.now()), (None, None)]
    assert await storage.routing.last_answer_at(conversation.id) is None


@pytest.mark.parametrize("moved_by", ["requeue_agent", "transfer"])
async def test_a_customer_message_after_an_answered_conversation_moved_opens_a_wait(
    storage: Storage, clock: ManualClock, moved_by: str
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    held = await assign(storage, clock, await open_conversation(storage, clock, "v1"), bea)
    await agent_replies(storage, clock, held.id)
    assert await storage.routing.open_waits() == []
    clock.advance(60)
    if moved_by == "requeue_agent":  # Bea went offline
        await storage.routing.requeue_agent(bea.id, clock.now())
    else:  # escalated
        await storage.routing.transfer(held.id, "billing", 2, clock.now(), keep_wait=True)
    clock.advance(60)
    await customer_writes(storage, clock, held, "m2")
    [wait] = await storage.routing.open_waits()
    assert (wait.conversation_id, wait.kind, wait.started_at) == (held.id, "next", clock.now())
    assert await storage.routing.claim_promise(held.id, clock.now(), clock.now())


# --- promises and breaches ---------------------------------------------------------------


async def test_claim_promise_once_per_open_wait(storage: Storage, clock: ManualClock) -> None:
    conversation = await open_conversation(storage, clock, "v1")
    promised = clock.now() + timedelta(minutes=5)
    assert await storage.routing.claim_promise(conversation.id, clock.now(), promised)
    assert not await storage.routing.claim_promise(
        conversation.id, clock.now(), promised + timedelta(minutes=1)
    )
    stored = await storage.conversations.get_conversation(conversation.id)
    assert stored.promised_reply_at == promised
    [wait] = await storage.routing.open_waits()
    assert wait.promised_at == promised
    [record] = await storage.routing.waits_since(conversation.created_at)
    assert (record.promise_made_at, record.promised_at) == (clock.now(), promised)

    clock.advance(60)
    await agent_replies(storage, clock, conversation.id)
    assert not await storage.routing.claim_promise(conversation.id, clock.now(), promised)
    clock.advance(60)
    await customer_writes(storage, clock, conversation, "m2")
    later = clock.now() + timedelta(minutes=10)
    assert await storage.routing.claim_promise(conversation.id, clock.now(), later)
    stored = await storage.conversations.get_conversation(conversation.id)
    assert stored.promised_reply_at == later


async def test_claim_promise_needs_an_open_wait(storage: Storage, clock: ManualClock) -> None:
    answered = await open_conversation(storage, clock, "v1")
    resolved = await open_conversation(storage, clock, "v2")
    await agent_replies(storage, clock, answered.id)
    await storage.conversations.set_status(resolved.id, ConversationStatus.RESOLVED, clock.now())
    for conversation in (answered, resolved):
        assert not await storage.routing.claim_promise(conversation.id, clock.now(), clock.now())
        stored = await storage.conversations.get_conversation(conversation.id)
        assert stored.promised_reply_at is None
    assert not await storage.routing.claim_promise(999, clock.now(), clock.now())
    assert await storage.routing.promises_since(answered.customer_id, answered.created_at) == 0


async def test_concurrent_promise_claims_succeed_once(storage: Storage, clock: ManualClock) -> None:
    conversation = await open_conversation(storage, clock, "v1")
    claims = await asyncio.gather(
        *(
            storage.routing.claim_promise(
                conversation.id, clock.now(), clock.now() + timedelta(minutes=n)
            )
            for n in range(1, 9)
        )
    )
    assert claims.count(True) == 1


async def test_promises_since_counts_per_customer(storage: Storage, clock: ManualClock) -> None:
    start = clock.now()
    ana = await open_conversation(storage, clock, "ana")
    bob = await open_conversation(storage, clock, "bob")
    assert ana.customer_id != bob.customer_id
    assert await storage.routing.claim_promise(ana.id, clock.now(), clock.now())
    clock.advance(60)
    await agent_replies(storage, clock, ana.id)
    clock.advance(60)
    second_at = clock.now()
    await customer_writes(storage, clock, ana, "m2")
    assert await storage.routing.claim_promise(ana.id, clock.now(), clock.now())

    assert await storage.routing.promises_since(ana.customer_id, start) == 2
    assert await storage.routing.promises_since(ana.customer_id, second_at) == 1
    assert (
        await storage.routing.promises_since(ana.customer_id, clock.now() + timedelta(days=1)) == 0
    )
    assert await storage.routing.promises_since(bob.customer_id, start) == 0
    assert await storage.routing.promises_since(999, start) == 0


async def test_mark_breached_once_per_open_wait(storage: Storage, clock: ManualClock) -> None:
    conversation = await open_conversation(storage, clock, "v1")
    started = conversation.waiting_since
    assert started is not None
    clock.advance(600)
    assert not await storage.routing.mark_breached(
        conversation.id, started + timedelta(seconds=1), clock.now()
    )
    assert await storage.routing.mark_breached(conversation.id, started, clock.now())
    assert not await storage.routing.mark_breached(
        conversation.id, started, clock.now() + timedelta(seconds=5)
    )
    [wait] = await storage.routing.open_waits()
    assert wait.breached_at == clock.now()

    answered = await open_conversation(storage, clock, "v2")
    await agent_replies(storage, clock, answered.id)
    assert not await storage.routing.mark_breached(answered.id, clock.now(), clock.now())
    records = await storage.routing.waits_since(started)
    assert [r.breached_at for r in records] == [clock.now(), None]


# --- reports and the router's rebuild ----------------------------------------------------


async def test_handling_times_of_resolved_assigned_conversations(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea", teams=("support", "billing"))
    start = clock.now()
    support = await assign(storage, clock, await open_conversation(storage, clock, "s"), bea)
    billing = await open_conversation(storage, clock, "b", team="billing")
    clock.advance(100)
    billing = await assign(storage, clock, billing, bea)
    never_assigned = await open_conversation(storage, clock, "n")
    still_open = await assign(storage, clock, await open_conversation(storage, clock, "o"), bea)
    clock.advance(200)
    await storage.conversations.set_status(support.id, ConversationStatus.RESOLVED, clock.now())
    clock.advance(50)
    await storage.conversations.set_status(billing.id, ConversationStatus.RESOLVED, clock.now())
    await storage.conversations.set_status(
        never_assigned.id, ConversationStatus.RESOLVED, clock.now()
    )
    assert await status_of(storage, still_open.id) is ConversationStatus.ASSIGNED

    assert await storage.routing.handling_times(start) == [("support", 300.0), ("billing", 250.0)]
    # Only those resolved since.
    assert await storage.routing.handling_times(clock.now()) == [("billing", 250.0)]
    assert await storage.routing.handling_times(clock.now() + timedelta(seconds=1)) == []


async def test_agent_loads_count_only_assigned_conversations(
    storage: Storage, clock: ManualClock
) -> None:
    bea = await add_agent(storage, clock, "Bea")
    cem = await add_agent(storage, clock, "Cem")
    idle = await add_agent(storage, clock, "Dan")
    one, two, three, four = [await open_conversation(storage, clock, f"v{n}") for n in range(4)]
    for conversation in (one, two, three):
        await assign(storage, clock, conversation, bea)
    await assign(storage, clock, four, cem)
    await agent_replies(storage, clock, two.id)
    await storage.conversations.set_status(two.id, ConversationStatus.PENDING_CUSTOMER, clock.now())
    await storage.conversations.set_status(three.id, ConversationStatus.RESOLVED, clock.now())

    loads = await storage.routing.agent_loads()
    assert [(entry.agent.id, entry.load) for entry in loads] == [
        (bea.id, 1),
        (cem.id, 1),
        (idle.id, 0),
    ]
    assert loads[0].agent == await storage.agents.get_agent(bea.id)
    assert sorted(c.id for c in await storage.routing.assigned()) == [one.id, four.id]


async def test_queued_and_assigned_are_what_the_router_rebuilds_from(
    storage: Storage, clock: ManualClock
) -> None:
    start = clock.now()
    late = await open_conversation(storage, clock, "late", at=start + timedelta(seconds=30))
    early = await open_conversation(storage, clock, "early", at=start)
    urgent = await open_conversation(
        storage, clock, "urgent", priority=Priority.URGENT, at=start + timedelta(seconds=60)
    )
    held = await open_conversation(storage, clock, "held")
    done = await open_conversation(storage, clock, "done")
    bea = await add_agent(storage, clock, "Bea")
    await assign(storage, clock, held, bea)
    await storage.conversations.set_status(done.id, ConversationStatus.RESOLVED, clock.now())

    assert [c.id for c in await storage.routing.queued()] == [urgent.id, early.id, late.id]
    [assigned] = await storage.routing.assigned()
    assert assigned == await storage.conversations.get_conversation(held.id)


async def test_open_waits_lists_only_open_ones(storage: Storage, clock: ManualClock) -> None:
    answered = await open_conversation(storage, clock, "a")
    resolved = await open_conversation(storage, clock, "r")
    waiting = await open_conversation(storage, clock, "w")
    await agent_replies(storage, clock, answered.id)
    await storage.conversations.set_status(resolved.id, ConversationStatus.RESOLVED, clock.now())
    [wait] = await storage.routing.open_waits()
    assert (wait.conversation_id, wait.customer_id) == (waiting.id, waiting.customer_id)
    assert len(await storage.routing.waits_since(answered.created_at)) == 3


# --- batches (the router's acknowledgements under load) ----------------------------------


async def test_claim_promises_takes_each_open_wait_once(
    storage: Storage, clock: ManualClock
) -> None:
    fresh = await open_conversation(storage, clock, "v1")
    promised_already = await open_conversation(storage, clock, "v2")
    answered = await open_conversation(storage, clock, "v3")
    assert await storage.routing.claim_promise(promised_already.id, clock.now(), clock.now())
    await agent_replies(storage, clock, answered.id)
    first = clock.now() + timedelta(minutes=3)
    claims = [
        (fresh.id, first),
        (promised_already.id, first),
        (answered.id, first),
        (999, first),
        (fresh.id, first + timedelta(minutes=9)),  # a repeat within the batch: the first wins
    ]
    assert await storage.routing.claim_promises(claims, clock.now()) == {fresh.id}
    stored = await storage.conversations.get_conversation(fresh.id)
    assert stored.promised_reply_at == first
    assert await storage.routing.claim_promises([(fresh.id, first)], clock.now()) == set()
    assert await storage.routing.claim_promises([], clock.now()) == set()


async def test_promises_since_many_counts_per_customer(
    storage: Storage, clock: ManualClock
) -> None:
    start = clock.now()
    ana = await open_conversation(storage, clock, "ana")
    bob = await open_conversation(storage, clock, "bob")
    eve = await open_conversation(storage, clock, "eve")
    assert await storage.routing.claim_promises(
        [(ana.id, clock.now()), (bob.id, clock.now())], clock.now()
    ) == {ana.id, bob.id}
    counted = await storage.routing.promises_since_many(
        [ana.customer_id, bob.customer_id, eve.customer_id, ana.customer_id, 999], start
    )
    assert counted == {ana.customer_id: 1, bob.customer_id: 1}
    assert await storage.routing.promises_since_many([], start) == {}


async def test_post_messages_stores_all_with_their_deliveries(
    storage: Storage, clock: ManualClock
) -> None:
    one = await open_conversation(storage, clock, "v1")
    two = await open_conversation(storage, clock, "v2")

    def bot(conversation_id: int, text: str) -> NewAgentMessage:
        return NewAgentMessage(
            conversation_id=conversation_id,
            author=Author.BOT,
            author_id=None,
            author_name="Support",
            text=text,
            visibility=Visibility.PUBLIC,
        )

    posted = await storage.conversations.post_messages(
        [bot(one.id, "hello one"), bot(two.id, "hello two"), bot(one.id, "again one")],
        plan_deliveries,
        clock.now(),
    )
    assert [p.message.text for p in posted] == ["hello one", "hello two", "again one"]
    assert [p.conversation.id for p in posted] == [one.id, two.id, one.id]
    for item in posted:
        [delivery] = item.deliveries
        assert delivery.message_id == item.message.id
        assert delivery.destination == item.conversation.origin
    # Stored as one by one would have: in order, each with its pending delivery.
    history = await storage.conversations.messages(one.id)
    assert [m.text for m in history if m.author is Author.BOT] == ["hello one", "again one"]
    views = await storage.conversations.deliveries_for(one.id)
    assert len(views) == 2
    assert posted[0].deliveries[0].id < posted[2].deliveries[0].id

    with pytest.raises(NotFound):
        await storage.conversations.post_messages(
            [bot(two.id, "lost with its batch"), bot(999, "nowhere")],
            plan_deliveries,
            clock.now(),
        )
    texts = [m.text for m in await storage.conversations.messages(two.id)]
    assert "lost with its batch" not in texts


async def test_get_customers_finds_each_with_identities(
    storage: Storage, clock: ManualClock
) -> None:
    ana = await open_conversation(storage, clock, "ana")
    bob = await open_conversation(storage, clock, "bob", channel="telegram")
    found = await storage.conversations.get_customers([ana.customer_id, bob.customer_id, 999])
    assert set(found) == {ana.customer_id, bob.customer_id}
    assert found[ana.customer_id] == await storage.conversations.get_customer(ana.customer_id)
    assert found[bob.customer_id].identities
    assert await storage.conversations.get_customers([]) == {}
    with pytest.raises(NotFound):
        await storage.conversations.get_customer(999)


async def test_acknowledge_claims_and_posts_together(storage: Storage, clock: ManualClock) -> None:
    fresh = await open_conversation(storage, clock, "v1")
    promised_already = await open_conversation(storage, clock, "v2")
    assert await storage.routing.claim_promise(promised_already.id, clock.now(), clock.now())
    at = clock.now() + timedelta(minutes=4)

    def ack(conversation_id: int) -> NewAgentMessage:
        return NewAgentMessage(
            conversation_id=conversation_id,
            author=Author.BOT,
            author_id=None,
            author_name="Support",
            text=f"we have it ({conversation_id})",
            visibility=Visibility.PUBLIC,
        )

    posted = await storage.routing.acknowledge(
        [(ack(fresh.id), at), (ack(promised_already.id), at)], plan_deliveries, clock.now()
    )
    # Only the claim won is told, and its promise is recorded with the message.
    assert [p.conversation.id for p in posted] == [fresh.id]
    assert len(posted[0].deliveries) == 1
    assert (await storage.conversations.get_conversation(fresh.id)).promised_reply_at == at
    texts = [m.text for m in await storage.conversations.messages(promised_already.id)]
    assert f"we have it ({promised_already.id})" not in texts
    # A conversation without an open wait (gone, say) is simply not told.
    other = await open_conversation(storage, clock, "v3")
    posted = await storage.routing.acknowledge(
        [(ack(other.id), at), (ack(999), at)], plan_deliveries, clock.now()
    )
    assert [p.conversation.id for p in posted] == [other.id]
    assert await storage.routing.acknowledge([], plan_deliveries, clock.now()) == []
