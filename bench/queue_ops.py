"""Queue operations with 100,000 waiting conversations: position lookup and take-next p99 at
most 5 ms, on SQLite and on PostgreSQL.

Per database, in one process, against the real store:

1. seed: N queued conversations through the real ingest path (``ingest_batch``, one thread
   per message so each opens a conversation), over 2 teams x 2 tiers x 2 priorities with
   arrival times shuffled across batches, so every partition's order needs the queue index;
2. 50 online agents (capacity 4) fill their slots with ``take_next``, at staggered times,
   so the estimates see busy slots as a running bridge would with a long queue;
3. the live queue is loaded as the router does at start, ``LiveQueue.reset(await
   store.routing.queued())``, and the whole ``Router.resync()`` is timed too;
4. ``LiveQueue.position`` for random waiting conversations, and the web chat's status path,
   ``Router.status`` (position plus estimate) for random ones and for the head of each line
   (where the estimate simulates the frees instead of approximating them);
5. ``store.routing.take_next`` in sequence by agents with free capacity, and
   ``store.routing.assign`` of a specific queued conversation.

    .venv/bin/python bench/queue_ops.py [--conversations 100000] [--database sqlite|postgres|both]

PostgreSQL: ``BRIDGE_BENCH_POSTGRES`` names a database to use (it is migrated, filled, and
left in place); without it a fresh ``bridge_bench_<random>`` database is created on the local
server and dropped afterwards.

Latencies are in milliseconds (p50/p90/p99/max, and ``over_target``: how many samples took
more than 5 ms). ``empty_write_transaction_ms`` is the floor every write pays (BEGIN, COMMIT,
and on PostgreSQL the pool's pre-ping), to tell round trips from query cost.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Connection, text

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, machine, run
from bridge.clock import ManualClock
from bridge.conversations import ConversationService
from bridge.inbound import InboundMessage
from bridge.model import Agent, Presence, Priority, ThreadRef
from bridge.ports import AssignResult, ConversationPolicy, NewAgent
from routing.estimates import Estimator
from routing.queue import LiveQueue
from routing.router import Router, RouterSettings
from routing.sla import SlaPolicy
from storage.bus import InProcessBus
from storage.migrate import upgrade
from storage.store import Storage

TARGET_MS = 5.0
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEAMS = ("support", "billing")
TIERS = (1, 2)
PRIORITIES = (Priority.HIGH, Priority.NORMAL)
AGENTS = 50
CAPACITY = 4  # for the estimates: every slot held, as with a long queue
BIG_CAPACITY = 100_000  # for the measured take-next and assign: never full
HEAD_OF_LINE = 250  # per partition: the positions whose estimate is simulated
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def progress(database: str, step: str) -> None:
    """Where a long run is, on stderr (stdout carries the JSON)."""
    print(f"[{time.strftime('%H:%M:%S')}] {database}: {step}", file=sys.stderr, flush=True)


def latency(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds, precise enough for in-memory operations."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 4)

    return {
        "count": len(ordered),
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": at(1),
        "over_target": sum(1 for s in ordered if s * 1000 > TARGET_MS),
    }


# --- databases ---------------------------------------------------------------------------


@asynccontextmanager
async def sqlite_url() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as folder:
        yield f"sqlite+aiosqlite:///{folder}/bridge.db"


@asynccontextmanager
async def postgres_url() -> AsyncIterator[str]:
    given = os.environ.get("BRIDGE_BENCH_POSTGRES")
    if given:
        yield given
        return
    name = f"bridge_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_URL, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --- steps -------------------------------------------------------------------------------


async def analyze(storage: Storage) -> None:
    await storage.database.run_write(lambda connection: connection.execute(text("ANALYZE")))


async def seed(storage: Storage, count: int, batch: int, rng: random.Random) -> dict[str, Any]:
    """Queued conversations through the real ingest path, one policy per batch.

    On PostgreSQL the tables are analyzed whenever they have doubled, and at the end, as
    autovacuum would: without statistics the planner keeps its empty-table plans (ingest's
    ``IN`` lookups then filter every row of the channel, and seeding slows quadratically).
    """
    now = START + timedelta(seconds=count)
    combos = [(t, r, p) for t in TEAMS for r in TIERS for p in PRIORITIES]
    batch = max(1, min(batch, count // len(combos)))  # every combination gets a batch
    postgres = not storage.database.is_sqlite
    analyzed_at = 0
    started = time.perf_counter()
    for number, first in enumerate(range(0, count, batch)):
        team, tier, priority = combos[number % len(combos)]
        policy = ConversationPolicy(
            reopen_window=timedelta(hours=24),
            default_team=team,
            default_tier=tier,
            default_priority=priority,
        )
        items = [
            InboundMessage(
                thread=ThreadRef("webchat", "bench", f"v{n}"),
                external_id=f"m{n}",
                sender_id=f"v{n}",
                sender_name=f"Visitor {n}",
                text="where is my order?",
                received_at=START + timedelta(seconds=rng.uniform(0, count)),
            )
            for n in range(first, min(first + batch, count))
        ]
        results = await storage.ingest.ingest_batch(items, policy, now)
        assert all(r.opened for r in results)
        seeded = first + len(items)
        if postgres and (seeded >= 2 * analyzed_at or seeded == count):
            await analyze(storage)
            analyzed_at = seeded
    seconds = time.perf_counter() - started
    return {
        "batch": batch,
        "analyzed": "when the tables doubled, and at the end" if postgres else "never",
        "seconds": round(seconds, 2),
        "conversations_per_second": round(count / seconds, 1),
    }


async def server_settings(storage: Storage) -> dict[str, str]:
    if storage.database.is_sqlite:
        return {"sqlite": await storage.database.run_read(_sqlite_version)}
    names = ("server_version", "autovacuum", "synchronous_commit", "shared_buffers")
    return await storage.database.run_read(
        lambda connection: {n: str(connection.execute(text(f"SHOW {n}")).scalar()) for n in names}
    )


def _sqlite_version(connection: Connection) -> str:
    return str(connection.execute(text("SELECT sqlite_version()")).scalar())


async def add_agents(storage: Storage) -> list[Agent]:
    agents = []
    for n in range(AGENTS):
        teams = TEAMS if n % 5 == 0 else (TEAMS[n % 2],)
        new = NewAgent(
            f"Agent {n}",
            f"agent{n}@example.com",
            tier=TIERS[(n // 2) % 2],
            teams=teams,
            capacity=CAPACITY,
            presence=Presence.ONLINE,
        )
        agents.append(await storage.agents.add_agent(new, uuid.uuid4().hex * 2, START))
    return agents


async def fill_slots(
    storage: Storage, agents: list[Agent], now: datetime, rng: random.Random
) -> int:
    """Every agent takes their capacity, assigned over the last 20 minutes."""
    held = 0
    for agent in agents:
        for _ in range(agent.capacity):
            at = now - timedelta(seconds=rng.uniform(0, 1200))
            result, _ = await storage.routing.take_next(
                agent.id, agent.teams, agent.tier, agent.capacity, at
            )
            held += result is AssignResult.ASSIGNED
    return held


def estimator(rng: random.Random) -> Estimator:
    """Recent history as a running bridge would have it: ~8 min conversations, ~45 s replies."""
    learnt = Estimator(seed=rng.randrange(1 << 30))
    for team in TEAMS:
        for _ in range(400):
            learnt.observe_handling(team, rng.lognormvariate(6.2, 0.6))
            learnt.observe_response(team, rng.lognormvariate(3.8, 0.5))
    return learnt


def timed(call: Any, items: Sequence[Any]) -> list[float]:
    samples = []
    for item in items:
        started = time.perf_counter()
        call(item)
        samples.append(time.perf_counter() - started)
    return samples


class GcPauses:
    """Garbage collections during a phase: with 100,000 conversations held in memory a full
    collection is a pause every operation of the process shares."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._record)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._record)

    def _record(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def summary(self) -> dict[str, Any]:
        full = [seconds for generation, seconds in self.pauses if generation == 2]
        return {
            "collections": len(self.pauses),
            "full_collections": len(full),
            "longest_full_ms": round(max(full, default=0.0) * 1000, 2),
        }


def new_router(storage: Storage, now: datetime, rng: random.Random) -> Router:
    clock = ManualClock(now)
    bus = InProcessBus()
    return Router(
        storage.routing,
        storage.conversations,
        ConversationService(storage.conversations, bus, clock),
        bus,
        clock,
        RouterSettings(sla=SlaPolicy({"webchat": 300.0}, {"webchat": 600.0})),
        estimator=estimator(rng),
    )


async def measure_reads(
    storage: Storage, router: Router, lookups: int, rng: random.Random
) -> tuple[dict[str, Any], list[int]]:
    """Load the live queue as the router does at start, then positions and status."""
    started = time.perf_counter()
    queued = await storage.routing.queued()
    fetched = time.perf_counter()
    queue = LiveQueue()
    queue.reset(queued)
    built = time.perf_counter()
    await router.resync()
    resynced = time.perf_counter()
    assert len(queue) == len(router.state.queue) == len(queued)

    waiting = rng.sample(queued, min(lookups, len(queued)))
    positions = timed(lambda c: queue.position(c.id), waiting)
    assert all(queue.position(c.id) is not None for c in waiting)
    statuses = timed(router.status, waiting)
    heads = [
        c
        for partition in router.state.queue.partitions()
        for _, c in router.state.queue.in_order(partition, HEAD_OF_LINE)
    ]
    head_statuses = timed(router.status, heads)
    report = {
        "live_queue_load": {
            "conversations": len(queue),
            "fetch_seconds": round(fetched - started, 3),
            "build_seconds": round(built - fetched, 3),
            "total_seconds": round(built - started, 3),
        },
        "router_resync_seconds": round(resynced - built, 3),
        "position_ms": latency(positions),
        "status_ms": latency(statuses),
        "status_head_of_line_ms": {"positions_per_line": HEAD_OF_LINE, **latency(head_statuses)},
    }
    # Candidates for the assign step, far enough back that take-next does not reach them.
    return report, [c.id for c in rng.sample(queued, min(len(queued), 5 * lookups))]


async def measure_writes(
    storage: Storage,
    agents: list[Agent],
    candidates: list[int],
    now: datetime,
    args: argparse.Namespace,
) -> dict[str, Any]:
    empty = []
    for _ in range(300):
        begun = time.perf_counter()
        await storage.database.run_write(lambda _connection: None)
        empty.append(time.perf_counter() - begun)

    takes = []
    with GcPauses() as take_gc:
        for n in range(args.takes):
            agent = agents[n % len(agents)]
            begun = time.perf_counter()
            result, _ = await storage.routing.take_next(
                agent.id, agent.teams, agent.tier, BIG_CAPACITY, now
            )
            takes.append(time.perf_counter() - begun)
            assert result is AssignResult.ASSIGNED

    taken = {c.id for c in await storage.routing.assigned()}
    chosen = [cid for cid in candidates if cid not in taken][: args.assigns]
    assigns = []
    with GcPauses() as assign_gc:
        for n, conversation_id in enumerate(chosen):
            agent = agents[n % len(agents)]
            begun = time.perf_counter()
            result, _ = await storage.routing.assign(conversation_id, agent.id, BIG_CAPACITY, now)
            assigns.append(time.perf_counter() - begun)
            assert result is AssignResult.ASSIGNED
    return {
        "empty_write_transaction_ms": latency(empty),
        "take_next_ms": {**latency(takes), "gc": take_gc.summary()},
        "assign_ms": {**latency(assigns), "gc": assign_gc.summary()},
    }


async def bench_database(database: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    storage = Storage.open(url)
    try:
        await upgrade(storage.database)
        progress(database, f"seeding {args.conversations} conversations")
        seeding = await seed(storage, args.conversations, args.batch, rng)
        now = START + timedelta(seconds=args.conversations + 60)
        agents = await add_agents(storage)
        held = await fill_slots(storage, agents, now, rng)

        progress(database, "live queue, positions and status")
        router = new_router(storage, now, rng)
        reads, candidates = await measure_reads(storage, router, args.lookups, rng)
        gc.collect()  # the bench's own copies are gone; the router's state stays, as in serve

        progress(database, "take_next and assign")
        writes = await measure_writes(storage, agents, candidates, now, args)
        loads = await storage.routing.agent_loads()
        left = len(await storage.routing.queued())
        p99 = {
            "position": reads["position_ms"]["p99"],
            "take_next": writes["take_next_ms"]["p99"],
            "assign": writes["assign_ms"]["p99"],
        }
        return {
            "database": database,
            "server": await server_settings(storage),
            "conversations": args.conversations,
            "seeding": seeding,
            "agents": {"count": len(agents), "capacity": CAPACITY, "slots_held": held},
            **reads,
            **writes,
            "after": {"queued": left, "assigned": sum(entry.load for entry in loads)},
            "target_met": {name: value <= TARGET_MS for name, value in p99.items()},
        }
    finally:
        await storage.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batch", type=int, default=1_000, help="messages per ingest batch")
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--takes", type=int, default=2_000)
    parser.add_argument("--assigns", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results = []
    for database in databases:
        opened = sqlite_url() if database == "sqlite" else postgres_url()
        async with opened as url:
            results.append(await bench_database(database, url, args))
    emit(
        {
            "benchmark": "queue_ops",
            "target_p99_ms": TARGET_MS,
            "results": results,
            "target_met": all(all(r["target_met"].values()) for r in results),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
