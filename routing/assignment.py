"""Who gets a conversation: the online agent of the right team and tier with the least load,
the longest idle on a tie; never above capacity; away and do-not-disturb take nothing new.

Pure functions over the router's view of agents. The store re-checks capacity inside the
assigning transaction, so a stale view can only lose a race, never break the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bridge.model import Agent, Presence
from routing.queue import Partition

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AgentView:
    agent: Agent
    load: int  # conversations assigned now (waiting on the customer does not count)

    @property
    def free(self) -> int:
        return max(0, self.agent.capacity - self.load)

    def serves(self, partition: Partition) -> bool:
        team, tier = partition
        return team in self.agent.teams and tier == self.agent.tier

    def can_take(self, partition: Partition) -> bool:
        return self.agent.presence is Presence.ONLINE and self.free > 0 and self.serves(partition)

    def with_load(self, load: int) -> AgentView:
        return replace(self, load=load)


def choose_agent(agents: Iterable[AgentView], partition: Partition) -> AgentView | None:
    """The agent who should get the head of ``partition`` now, or None."""
    candidates = [a for a in agents if a.can_take(partition)]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (a.load, a.agent.last_assigned_at or _NEVER, a.agent.id))


def serving(agents: Iterable[AgentView], partition: Partition) -> list[AgentView]:
    """Online agents who work this partition (with or without free capacity)."""
    return [a for a in agents if a.agent.presence is Presence.ONLINE and a.serves(partition)]
