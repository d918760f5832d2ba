"""Cross-process live events: what Redis adds between ingest on one process and an agent's
page on another.

Two `bridge serve` processes share a fresh PostgreSQL database and Redis. Web chat visitors
write to process A; an agent's event stream (`GET /api/events`, as the inbox's EventSource)
is open on A and another on B. The figure is the latency on B minus the latency on A, for
the same messages. Target: at most 2 ms added at p99.

    .venv/bin/python bench/cross_process.py [--messages 500] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import asyncpg

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import inbox_live
from bench.common import bridge_server, emit, machine, percentiles, run
from bench.inbox_live import PASSWORD, follow, sign_in, visitors_write

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/14"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--visitors", type=int, default=20)
    args = parser.parse_args()
    inbox_live.expected = args.messages
    name = f"bridge_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    settings = {
        "BRIDGE_STORAGE__DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "BRIDGE_STORAGE__REDIS_URL": REDIS,
        "BRIDGE_STORAGE__REDIS_PREFIX": name,
        "BRIDGE_ROUTING__ACKNOWLEDGEMENTS__ENABLED": "false",
        "BRIDGE_WEB__CSAT_ENABLED": "false",
    }
    try:
        with ExitStack() as stack:
            one = stack.enter_context(bridge_server(**settings))  # creates the schema
            two = stack.enter_context(bridge_server(**settings))
            await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "bridge",
                    "agent",
                    "add",
                    "Bench Agent",
                    "--email",
                    "bench@example.com",
                    "--password-stdin",
                ],
                cwd=one.folder,
                env=one.env,
                input=PASSWORD + "\n",
                text=True,
                check=True,
                capture_output=True,
            )
            on_one, on_two = await sign_in(one.base_url), await sign_in(two.base_url)
            sent: dict[str, float] = {}
            seen_one: dict[str, float] = {}
            seen_two: dict[str, float] = {}
            done = asyncio.Event()
            streams = [
                asyncio.create_task(follow(on_one, one.base_url, sent, seen_one)),
                asyncio.create_task(follow(on_two, two.base_url, sent, seen_two, done)),
            ]
            await visitors_write(one.base_url, args, sent, done, settle=1.0)
            for task in streams:
                task.cancel()
            await on_one.close()
            await on_two.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    both = [t for t in seen_two if t in seen_one]
    same = [seen_one[t] - sent[t] for t in both]
    cross = [seen_two[t] - sent[t] for t in both]
    added = [seen_two[t] - seen_one[t] for t in both]
    p_same, p_cross, p_added = percentiles(same), percentiles(cross), percentiles(added)
    emit(
        {
            "benchmark": "cross_process",
            "messages": args.messages,
            "rate_per_second": args.rate,
            "received_same_process": len(seen_one),
            "received_other_process": len(seen_two),
            "same_process_ms": p_same,
            "other_process_ms": p_cross,
            "added_by_the_hop_ms": p_added,
            "added_p99_of_latencies_ms": round(p_cross.get("p99", 0) - p_same.get("p99", 0), 2),
            "target_added_p99_ms": 2.0,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
