"""The router's picture of the world, and its decisions, without any I/O.

It follows committed conversation snapshots and agent changes; it plans assignments (the head
of each partition to the best agent, while anyone has room) and estimates waits. The async
router (:mod:`routing.router`) carries the plans out against the store; the queue
simulation (``bench/simulate_queue.py``) drives this same class with a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bridge.model import Agent, Conversation, ConversationStatus
from routing.assignment import AgentView, choose_agent, serving
from routing.estimates import SIMULATE_UP_TO, Estimate, Estimator
from routing.queue import LiveQueue, Partition, partition_of

VERSIONS_KEPT = 200_000
LINE_TTL = 1.0  # seconds
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Held:
    """A conversation occupying one of an agent's slots."""

    agent_id: int
    team: str
    assigned_at: datetime
    answered: bool = False  # the agent has replied since it was assigned


@dataclass(frozen=True, slots=True)
class Freed:
    """A slot that became free: whose, and how long the conversation held it."""

    agent_id: int
    team: str
    seconds: float


class RoutingState:
    def __init__(
        self,
        estimator: Estimator | None = None,
        *,
        strict_priority: bool = True,
        line_ttl: float = LINE_TTL,
    ) -> None:
        self.queue = LiveQueue(strict_priority=strict_priority)
        self.estimator = estimator or Estimator()
        self.line_ttl = line_ttl
        #: Each line's estimates, one simulation for every position, reused for ``line_ttl``
        #: seconds: status lines, acknowledgements and delay checks all read them, and one
        #: simulation per call would cost tens of milliseconds each near the head of a line.
        self._lines: dict[Partition, tuple[datetime, list[Estimate | None]]] = {}
        self.agents: dict[int, AgentView] = {}
        self.held: dict[int, Held] = {}
        #: The newest version seen of each recent conversation: an older snapshot (an event
        #: that raced past a newer write) must change nothing.
        self._versions: dict[int, int] = {}

    # --- following the world --------------------------------------------------------------

    def set_agent(self, agent: Agent, load: int | None = None) -> None:
        current = self.agents.get(agent.id)
        if load is None:
            load = current.load if current else self._load_of(agent.id)
        self.agents[agent.id] = AgentView(agent, load)

    def load_of(self, agent_id: int) -> int:
        return self._load_of(agent_id)

    def _load_of(self, agent_id: int) -> int:
        return sum(1 for h in self.held.values() if h.agent_id == agent_id)

    def is_stale(self, conversation: Conversation) -> bool:
        return conversation.version < self._versions.get(conversation.id, 0)

    def apply(self, conversation: Conversation, now: datetime) -> Freed | None:
        """Take in a committed snapshot. Returns the slot it freed, if it left one."""
        if self.is_stale(conversation):
            return None
        self._versions.pop(conversation.id, None)
        self._versions[conversation.id] = conversation.version
        if len(self._versions) > VERSIONS_KEPT:
            for old in list(self._versions)[: VERSIONS_KEPT // 2]:
                if old not in self.held and old not in self.queue:
                    del self._versions[old]
        self.queue.apply(conversation)
        before = self.held.get(conversation.id)
        holding = (
            conversation.status is ConversationStatus.ASSIGNED
            and conversation.assignee_id is not None
        )
        if holding and before is not None and before.agent_id == conversation.assignee_id:
            return None
        freed: Freed | None = None
        if before is not None:
            del self.held[conversation.id]
            self._adjust(before.agent_id, -1)
            seconds = (now - before.assigned_at).total_seconds()
            self.estimator.observe_handling(before.team, seconds)
            freed = Freed(before.agent_id, before.team, seconds)
        if holding:
            assert conversation.assignee_id is not None
            assigned_at = conversation.assigned_at or now
            self.held[conversation.id] = Held(
                conversation.assignee_id, conversation.team, assigned_at
            )
            self._adjust(conversation.assignee_id, +1)
            view = self.agents.get(conversation.assignee_id)
            last = view.agent.last_assigned_at if view else None
            if view is not None and (last is None or last < assigned_at):
                # Who has been idle longest decides ties: keep it current without a reread.
                self.agents[view.agent.id] = replace(
                    view, agent=replace(view.agent, last_assigned_at=assigned_at)
                )
        return freed

    def answered(self, conversation_id: int, now: datetime) -> None:
        """A public agent reply: the first one after assignment teaches response times."""
        held = self.held.get(conversation_id)
        if held is None or held.answered:
            return
        seconds = (now - held.assigned_at).total_seconds()
        self.estimator.observe_response(held.team, seconds, held.agent_id)
        self.held[conversation_id] = Held(held.agent_id, held.team, held.assigned_at, True)

    def _adjust(self, agent_id: int, delta: int) -> None:
        view = self.agents.get(agent_id)
        if view is not None:
            self.agents[agent_id] = view.with_load(max(0, view.load + delta))

    # --- decisions ------------------------------------------------------------------------

    def plan(
        self, partitions: Iterable[Partition] | None = None
    ) -> list[tuple[Conversation, Agent]]:
        """Heads of the queue paired with the agents who should get them now, in order.

        Loads are counted as if every pair succeeds; the caller applies the store's answer.
        """
        pairs: list[tuple[Conversation, Agent]] = []
        planned: dict[int, int] = {}
        for partition in partitions if partitions is not None else self.queue.partitions():
            # Lazily: the walk stops at the first customer nobody can take.
            for _, conversation in self.queue.in_order(partition):
                views = [
                    v.with_load(v.load + planned.get(v.agent.id, 0)) for v in self.agents.values()
                ]
                chosen = choose_agent(views, partition)
                if chosen is None:
                    break
                planned[chosen.agent.id] = planned.get(chosen.agent.id, 0) + 1
                pairs.append((conversation, chosen.agent))
        return pairs

    def slots(
        self, partition: Partition, now: datetime
    ) -> tuple[list[int], list[tuple[float, int]]]:
        """The partition's free slots (each as its agent) and occupied ones (elapsed, agent)."""
        agents = serving(self.agents.values(), partition)
        ids = {a.agent.id for a in agents}
        busy = [
            ((now - h.assigned_at).total_seconds(), h.agent_id)
            for h in self.held.values()
            if h.agent_id in ids
        ]
        # Free slots in the order the router hands them out: least loaded, longest idle first.
        free: list[int] = []
        for view in sorted(
            agents, key=lambda a: (a.load, a.agent.last_assigned_at or _NEVER, a.agent.id)
        ):
            free += [view.agent.id] * view.free
        return free, busy

    def line_estimates(
        self, partition: Partition, count: int, now: datetime
    ) -> list[Estimate | None]:
        cached = self._lines.get(partition)
        if (
            cached is not None
            and 0 <= (now - cached[0]).total_seconds() < self.line_ttl
            and count <= len(cached[1])
        ):
            return cached[1][:count]
        free, busy = self.slots(partition, now)
        # Simulate as far as it is worth it; past that the estimator approximates per call.
        span = max(count, min(self.queue.length(partition), SIMULATE_UP_TO + len(free)))
        line = self.estimator.line(team=partition[0], count=span, free_slots=free, busy=busy)
        self._lines[partition] = (now, line)
        return line[:count]

    def estimate(self, conversation: Conversation, now: datetime) -> Estimate | None:
        """The wait of a queued conversation, or of one just assigned (position 1)."""
        partition = partition_of(conversation)
        # Already with an agent: only their reply is left to wait for.
        holder = self.held.get(conversation.id)
        position = 0 if holder else (self.queue.position(conversation.id) or 1)
        if holder is None and position <= SIMULATE_UP_TO:
            return self.line_estimates(partition, position, now)[position - 1]
        free, busy = self.slots(partition, now)
        return self.estimator.estimate(
            team=conversation.team,
            position=position,
            free_slots=free,
            busy=busy,
            agent_id=holder.agent_id if holder else None,
        )
