"""How honest are the announced response times? A discrete-event simulation of a support
team, running the router's real decision code (:class:`routing.state.RoutingState`: the live
queue, assignment within capacity, and the estimator) on a fake clock.

Customers arrive as a Poisson process (with bursts); each gets an acknowledgement with the
announced time at once, exactly as the router computes it; agents take conversations as the
router assigns them, answer after a lognormal reading-and-typing time, and finish after a
lognormal handling time; in one scenario an agent leaves mid-shift and their conversations go
back to the queue. For every customer the first agent reply is compared with the announced
time.

Targets: at least 90% of customers answered before the announced time, and a median
absolute error of at most 35% of the actual wait.

    .venv/bin/python bench/simulate_queue.py [--seed 1] [--hours 8]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, machine
from bridge.model import (
    Agent,
    Conversation,
    ConversationStatus,
    Presence,
    Priority,
    Role,
    ThreadRef,
)
from routing.estimates import Estimator
from routing.state import RoutingState

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Scenario:
    name: str
    agents: int
    arrivals_per_hour: float
    handling_median_min: float = 8.0
    handling_sigma: float = 0.6
    #: Agents differ: each has their own typical reply time, drawn between these (seconds),
    #: and varies around it by ``response_sigma``.
    response_median_range_s: tuple[float, float] = (20.0, 75.0)
    response_sigma: float = 0.3
    capacity: int = 6
    bursts: tuple[tuple[float, float, float], ...] = ()  # (start h, extra per hour, length h)
    leaves_at_h: float | None = None  # one agent goes offline then


SCENARIOS = (
    Scenario("1 agent, steady", 1, 33),
    Scenario("3 agents, steady", 3, 110),
    Scenario("5 agents, busy", 5, 170),
    Scenario("10 agents, burst", 10, 330, bursts=((3.0, 250.0, 0.5),)),
    Scenario("20 agents, steady", 20, 750),
    Scenario("8 agents, one leaves", 8, 300, leaves_at_h=4.0),
)


@dataclass
class Customer:
    conversation: Conversation
    arrived: datetime
    announced: float | None = None  # seconds after arrival
    answered: float | None = None


@dataclass(order=True)
class Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: Any = field(compare=False)


class Simulation:
    def __init__(self, scenario: Scenario, hours: float, seed: int) -> None:
        self.s = scenario
        self.hours = hours
        self.rng = random.Random(seed)
        self.state = RoutingState(Estimator(seed=seed))
        self.events: list[Event] = []
        self.seq = itertools.count()
        self.customers: dict[int, Customer] = {}
        self.now = START
        self.pace: dict[int, float] = {}
        for n in range(scenario.agents):
            self.pace[n + 1] = self.rng.uniform(*scenario.response_median_range_s)
            agent = Agent(
                id=n + 1,
                name=f"Agent {n + 1}",
                email=f"a{n}@example.com",
                role=Role.AGENT,
                tier=1,
                teams=("support",),
                capacity=scenario.capacity,
                presence=Presence.ONLINE,
                created_at=START,
            )
            self.state.set_agent(agent, 0)

    def at(self, seconds: float, kind: str, data: Any = None) -> None:
        when = self.now + timedelta(seconds=seconds)
        heapq.heappush(self.events, Event(when, next(self.seq), kind, data))

    def rate(self, hour: float) -> float:
        extra = sum(r for start, r, length in self.s.bursts if start <= hour < start + length)
        return self.s.arrivals_per_hour + extra

    def run(self) -> list[Customer]:
        self.at(self.rng.expovariate(self.rate(0) / 3600), "arrive")
        if self.s.leaves_at_h is not None:
            self.at(self.s.leaves_at_h * 3600, "leave", 1)
        end = START + timedelta(hours=self.hours)
        while self.events:
            event = heapq.heappop(self.events)
            self.now = event.at
            if event.kind == "arrive":
                if self.now < end:
                    self.arrive()
                    hour = (self.now - START).total_seconds() / 3600
                    self.at(self.rng.expovariate(self.rate(hour) / 3600), "arrive")
            elif event.kind == "reply":
                self.reply(event.data)
            elif event.kind == "resolve":
                self.resolve(event.data)
            elif event.kind == "leave":
                self.leave(event.data)
        return list(self.customers.values())

    def arrive(self) -> None:
        cid = len(self.customers) + 1
        conversation = Conversation(
            id=cid,
            customer_id=cid,
            origin=ThreadRef("webchat", "sim", f"v{cid}"),
            status=ConversationStatus.QUEUED,
            team="support",
            tier=1,
            priority=Priority.NORMAL,
            created_at=self.now,
            updated_at=self.now,
            waiting_since=self.now,
        )
        self.customers[cid] = Customer(conversation, self.now)
        self.state.apply(conversation, self.now)
        self.dispatch()
        # The acknowledgement, as the router sends it: after the assignment attempt.
        current = self.customers[cid].conversation
        estimate = self.state.estimate(current, self.now)
        if estimate is not None:
            self.customers[cid].announced = estimate.announced

    def dispatch(self) -> None:
        for conversation, agent in self.state.plan():
            assigned = replace(
                conversation,
                status=ConversationStatus.ASSIGNED,
                assignee_id=agent.id,
                assigned_at=self.now,
                updated_at=self.now,
            )
            self.customers[conversation.id].conversation = assigned
            self.state.apply(assigned, self.now)
            reading = self.lognormal(self.pace[agent.id], self.s.response_sigma)
            handling = self.lognormal(self.s.handling_median_min * 60, self.s.handling_sigma)
            self.at(reading, "reply", (conversation.id, agent.id))
            self.at(max(handling, reading + 1), "resolve", (conversation.id, agent.id))

    def reply(self, data: tuple[int, int]) -> None:
        cid, agent_id = data
        customer = self.customers[cid]
        if customer.conversation.assignee_id != agent_id:
            return  # requeued meanwhile: that agent never answered
        if customer.answered is None:
            customer.answered = (self.now - customer.arrived).total_seconds()
        self.state.answered(cid, self.now)

    def resolve(self, data: tuple[int, int]) -> None:
        cid, agent_id = data
        customer = self.customers[cid]
        if customer.conversation.assignee_id != agent_id:
            return
        resolved = replace(
            customer.conversation,
            status=ConversationStatus.RESOLVED,
            resolved_at=self.now,
            waiting_since=None,
            updated_at=self.now,
        )
        customer.conversation = resolved
        self.state.apply(resolved, self.now)
        self.dispatch()

    def leave(self, agent_id: int) -> None:
        view = self.state.agents[agent_id]
        self.state.set_agent(replace(view.agent, presence=Presence.OFFLINE))
        for customer in self.customers.values():
            c = customer.conversation
            if c.status is ConversationStatus.ASSIGNED and c.assignee_id == agent_id:
                requeued = replace(
                    c,
                    status=ConversationStatus.QUEUED,
                    assignee_id=None,
                    assigned_at=None,
                    waiting_since=c.waiting_since or self.now,
                    updated_at=self.now,
                )
                customer.conversation = requeued
                self.state.apply(requeued, self.now)
        self.dispatch()

    def lognormal(self, median_value: float, sigma: float) -> float:
        return self.rng.lognormvariate(math.log(median_value), sigma)


def score(customers: list[Customer], warmup: int) -> dict[str, Any]:
    judged = [c for c in customers[warmup:] if c.announced is not None and c.answered is not None]
    kept = sum(1 for c in judged if c.answered <= c.announced)
    errors = [abs(c.announced - c.answered) / c.answered for c in judged if c.answered > 0]
    waits = sorted(c.answered for c in judged)
    return {
        "customers": len(judged),
        "kept_percent": round(100 * kept / len(judged), 1) if judged else None,
        "median_abs_error_percent": round(100 * median(errors), 1) if errors else None,
        "wait_p50_s": round(waits[len(waits) // 2], 1) if waits else None,
        "wait_p90_s": round(waits[int(len(waits) * 0.9)], 1) if waits else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--warmup", type=int, default=20, help="first customers not scored")
    parser.add_argument(
        "--reply-spread",
        type=float,
        default=0.3,
        help="lognormal sigma of one agent's reply times around their own typical time",
    )
    args = parser.parse_args()
    results = []
    everyone: list[Customer] = []
    for n, scenario in enumerate(SCENARIOS):
        scenario = replace(scenario, response_sigma=args.reply_spread)
        customers = Simulation(scenario, args.hours, args.seed + n).run()
        everyone += customers[args.warmup :]
        results.append({"scenario": scenario.name, **score(customers, args.warmup)})
    overall = score(everyone, 0)
    emit(
        {
            "benchmark": "simulate_queue",
            "hours_per_scenario": args.hours,
            "reply_spread": args.reply_spread,
            "seed": args.seed,
            "scenarios": results,
            "overall": overall,
            "targets": {"kept_percent": ">= 90", "median_abs_error_percent": "<= 35"},
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
