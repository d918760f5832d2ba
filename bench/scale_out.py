"""Scale-out: the end-to-end load of ``bench/end_to_end.py`` on one and on two ``bridge serve``
processes sharing PostgreSQL and Redis.

Each run gets a fresh database. New web chat customers are spread over the processes (as a
load balancer would), each writes one first message, and counts once the bridge's
acknowledgement frame arrives: ingest, the router's promise, the bot message, its delivery
through the outbox (claimed with ``FOR UPDATE SKIP LOCKED``, so either process may send it)
and, when the customer's socket is on the other process, the relay over Redis. Reported:
acknowledged messages per second for each count of processes, and the ratio (target 1.4).

    .venv/bin/python bench/scale_out.py [--seconds 10] [--in-flight 300] [--processes 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, run
from bench.end_to_end import Customer, closed_loop, cpu_seconds, open_customers, summary

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/12"
TARGET_RATIO = 1.4


async def one_run(processes: int, args: argparse.Namespace) -> dict[str, Any]:
    name = f"bridge_scale_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    count = int(args.capacity * args.seconds)
    settings = {
        "BRIDGE_STORAGE__DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "BRIDGE_STORAGE__REDIS_URL": REDIS,
        "BRIDGE_STORAGE__REDIS_PREFIX": name,
        "BRIDGE_CHANNELS__WEBCHAT__MAX_CONNECTIONS": str(count + 1000),
        "BRIDGE_WEB__CSAT_ENABLED": "false",
    }
    try:
        with ExitStack() as stack:
            # One after the other: the first creates the schema.
            servers = [stack.enter_context(bridge_server(**settings)) for _ in range(processes)]
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                readers: list[asyncio.Task[None]] = []
                warm: list[Customer] = []
                per_server: list[list[Customer]] = []
                for index, server in enumerate(servers):
                    warm += await open_customers(http, server, 200, f"w{index}-", readers)
                    per_server.append(
                        await open_customers(
                            http, server, count // processes, f"c{index}-", readers
                        )
                    )
                # Interleaved, so consecutive customers land on different processes.
                load = [c for group in zip(*per_server, strict=True) for c in group]
                await closed_loop(iter(warm), 100, 60.0)
                print(f"throughput phase {processes}", file=sys.stderr, flush=True)
                cpu = [cpu_seconds(s.process.pid) for s in servers]
                started = time.perf_counter()
                await closed_loop(iter(load), args.in_flight, args.seconds)
                elapsed = time.perf_counter() - started
                used = [c for c in load if c.sent_at]
                async with asyncio.timeout(30):
                    await asyncio.gather(*(c.acknowledged.wait() for c in used))
                cpu = [
                    cpu_seconds(s.process.pid) - before
                    for s, before in zip(servers, cpu, strict=True)
                ]
                result = {
                    "processes": processes,
                    **summary(used, elapsed),
                    "server_cpu_seconds": [round(c, 2) for c in cpu],
                    "customers_not_acknowledged_once": sum(1 for c in used if c.acks != 1),
                }
                for customer in [*warm, *load]:
                    await customer.ws.close()
                for task in readers:
                    task.cancel()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--in-flight", type=int, default=300)
    parser.add_argument("--capacity", type=float, default=1500.0, help="customers per second")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    limit = int(args.capacity * args.seconds) * 2 + 4000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(hard, limit)))

    runs = [await one_run(n, args) for n in args.processes]
    rates = {r["processes"]: r["messages_per_second"] for r in runs}
    ratio = rates[2] / rates[1] if 1 in rates and 2 in rates and rates[1] else None
    emit(
        {
            "benchmark": "scale_out",
            "channel": "webchat",
            "storage": "postgresql+redis",
            "runs": runs,
            "two_over_one": None if ratio is None else round(ratio, 2),
            "target_ratio": TARGET_RATIO,
            "target_met": ratio is not None and ratio >= TARGET_RATIO,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
