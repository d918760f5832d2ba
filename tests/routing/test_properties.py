"""Property tests of the routing decisions over random histories.

A history mixes arrivals (in several teams, tiers and priorities), presence changes, resolves
and agents leaving. A small model of the store carries out the router's plans exactly as the
real store does: an assignment succeeds only while the conversation is queued and the agent is
below capacity. After every step:

* nothing is ever served out of order: an assigned conversation was the head of its
  partition (strict arrival order within a priority class, urgent first);
* no agent ever holds more than their capacity;
* no conversation is ever held by two agents;
* the live queue's positions are exactly the ranks a full sort would give.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.model import (
    Agent,
    Conversation,
    ConversationStatus,
    Presence,
    Priority,
    Role,
    ThreadRef,
)
from routing.queue import partition_of
from routing.state import RoutingState

START = datetime(2026, 5, 4, 9, tzinfo=UTC)
TEAMS = ("support", "billing")
PRESENCES = (Presence.ONLINE, Presence.AWAY, Presence.DND, Presence.OFFLINE)

arrive = st.tuples(
    st.just("arrive"), st.sampled_from(TEAMS), st.integers(1, 2), st.sampled_from(list(Priority))
)
presence = st.tuples(st.just("presence"), st.integers(0, 4), st.sampled_from(PRESENCES))
resolve = st.tuples(st.just("resolve"), st.integers(0, 10_000))
leave = st.tuples(st.just("leave"), st.integers(0, 4))
steps = st.lists(st.one_of(arrive, arrive, arrive, presence, resolve, leave), max_size=80)


class Model:
    """The store's rules, small: what the router's plans run against."""

    def __init__(self, capacities: list[int], strict_priority: bool) -> None:
        self.now = START
        self.state = RoutingState(strict_priority=strict_priority)
        self.conversations: dict[int, Conversation] = {}
        self.agents: dict[int, Agent] = {}
        self.strict_priority = strict_priority
        for n, capacity in enumerate(capacities):
            agent = Agent(
                id=n + 1,
                name=f"A{n}",
                email=f"a{n}@x.org",
                role=Role.AGENT,
                tier=1 + n % 2,
                teams=(TEAMS[n % 2], TEAMS[(n // 2) % 2]),
                capacity=capacity,
                presence=Presence.OFFLINE,
                created_at=START,
            )
            self.agents[agent.id] = agent
            self.state.set_agent(agent, 0)

    def tick(self) -> None:
        self.now += timedelta(seconds=7)

    def held_by(self, agent_id: int) -> list[Conversation]:
        return [
            c
            for c in self.conversations.values()
            if c.status is ConversationStatus.ASSIGNED and c.assignee_id == agent_id
        ]

    def put(self, conversation: Conversation) -> None:
        self.conversations[conversation.id] = conversation
        self.state.apply(conversation, self.now)

    def key(self, c: Conversation) -> tuple[int, datetime, int]:
        assert c.waiting_since is not None
        return (int(c.priority) if self.strict_priority else 0, c.waiting_since, c.id)

    def dispatch(self) -> None:
        for _ in range(100):
            pairs = self.state.plan()
            if not pairs:
                return
            progress = False
            for planned, agent in pairs:
                current = self.conversations[planned.id]
                if current.status is not ConversationStatus.QUEUED:
                    continue
                if len(self.held_by(agent.id)) >= self.agents[agent.id].capacity:
                    continue
                # Served out of order? The conversation must be its partition's head.
                waiting = [
                    c
                    for c in self.conversations.values()
                    if c.status is ConversationStatus.QUEUED
                    and partition_of(c) == partition_of(current)
                ]
                assert min(waiting, key=self.key).id == current.id, "served out of order"
                self.put(
                    replace(
                        current,
                        status=ConversationStatus.ASSIGNED,
                        assignee_id=agent.id,
                        assigned_at=self.now,
                        updated_at=self.now,
                    )
                )
                progress = True
            if not progress:
                return

    def check(self) -> None:
        for agent in self.agents.values():
            assert len(self.held_by(agent.id)) <= agent.capacity, "above capacity"
            view = self.state.agents[agent.id]
            assert view.load == len(self.held_by(agent.id)), "the view lost count"
        holders = [
            c.id
            for c in self.conversations.values()
            if c.assignee_id is not None and c.status is ConversationStatus.ASSIGNED
        ]
        assert len(holders) == len(set(holders))
        queued = [c for c in self.conversations.values() if c.status is ConversationStatus.QUEUED]
        for c in queued:
            same = sorted((q for q in queued if partition_of(q) == partition_of(c)), key=self.key)
            assert self.state.queue.position(c.id) == same.index(c) + 1
        assert len(self.state.queue) == len(queued)

    def run(self, step: tuple[object, ...]) -> None:
        self.tick()
        kind = step[0]
        if kind == "arrive":
            _, team, tier, priority = step
            cid = len(self.conversations) + 1
            self.put(
                Conversation(
                    id=cid,
                    customer_id=cid,
                    origin=ThreadRef("webchat", "p", f"v{cid}"),
                    status=ConversationStatus.QUEUED,
                    team=str(team),
                    tier=int(tier),  # type: ignore[call-overload]
                    priority=Priority(priority),
                    created_at=self.now,
                    updated_at=self.now,
                    waiting_since=self.now,
                )
            )
        elif kind == "presence":
            _, index, presence = step
            agent = list(self.agents.values())[int(index) % len(self.agents)]  # type: ignore[call-overload]
            updated = replace(agent, presence=Presence(presence))
            self.agents[agent.id] = updated
            self.state.set_agent(updated)
        elif kind == "resolve":
            held = sorted(
                (c for c in self.conversations.values() if c.status is ConversationStatus.ASSIGNED),
                key=lambda c: c.id,
            )
            if held:
                c = held[int(step[1]) % len(held)]  # type: ignore[call-overload]
                self.put(
                    replace(
                        c,
                        status=ConversationStatus.RESOLVED,
                        resolved_at=self.now,
                        waiting_since=None,
                        updated_at=self.now,
                    )
                )
        elif kind == "leave":
            agent = list(self.agents.values())[int(step[1]) % len(self.agents)]  # type: ignore[call-overload]
            gone = replace(agent, presence=Presence.OFFLINE)
            self.agents[agent.id] = gone
            self.state.set_agent(gone)
            for c in self.held_by(agent.id):  # requeued, keeping their place in line
                self.put(
                    replace(
                        c,
                        status=ConversationStatus.QUEUED,
                        assignee_id=None,
                        assigned_at=None,
                        waiting_since=c.waiting_since or self.now,
                        updated_at=self.now,
                    )
                )
        self.dispatch()
        self.check()


@settings(max_examples=300, deadline=None)
@given(
    history=steps,
    capacities=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    strict_priority=st.booleans(),
)
def test_routing_invariants_hold_over_any_history(
    history: list[tuple[object, ...]], capacities: list[int], strict_priority: bool
) -> None:
    model = Model(capacities, strict_priority)
    for step in history:
        model.run(step)


def test_the_checks_can_fail() -> None:
    """The model's order check catches a router that serves the newest first."""
    model = Model([1], strict_priority=True)
    model.run(("presence", 0, Presence.ONLINE))
    agent = model.agents[1]
    team, tier = agent.teams[0], agent.tier
    for _ in range(3):
        model.run(("arrive", team, tier, Priority.NORMAL))
    newest = max(
        (c for c in model.conversations.values() if c.status is ConversationStatus.QUEUED),
        key=lambda c: c.id,
    )
    model.state.plan = lambda partitions=None: [(newest, agent)]  # type: ignore[method-assign]
    model.put(
        replace(
            model.held_by(1)[0],
            status=ConversationStatus.RESOLVED,
            waiting_since=None,
            updated_at=model.now + timedelta(seconds=1),
        )
    )
    with pytest.raises(AssertionError, match="out of order"):
        model.dispatch()
