"""SLA targets: when a first or next response is due, per channel and priority.

A target counts the team's open hours only (a web chat at 17:58 with a 5-minute target is due
at 09:03 the next morning when the team closes at 18:00), through :mod:`routing.hours`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bridge.model import Priority
from routing.hours import BusinessHours

FIRST = "first"
NEXT = "next"


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    first_response: Mapping[str, float]  # channel -> seconds
    next_response: Mapping[str, float]
    priority_factors: Mapping[Priority, float] = field(
        default_factory=lambda: {
            Priority.URGENT: 0.25,
            Priority.HIGH: 0.5,
            Priority.NORMAL: 1.0,
            Priority.LOW: 2.0,
        }
    )
    fallback: float = 900.0  # for a channel without a target

    def target(self, channel: str, priority: Priority, kind: str) -> float:
        table = self.first_response if kind == FIRST else self.next_response
        base = table.get(channel, self.first_response.get(channel, self.fallback))
        return base * self.priority_factors.get(priority, 1.0)

    def due(
        self,
        channel: str,
        priority: Priority,
        kind: str,
        started_at: datetime,
        hours: BusinessHours,
    ) -> datetime:
        return hours.add_open_time(started_at, self.target(channel, priority, kind))
