"""How fast the bridge acknowledges Slack events, at a steady 200 events/s.

Slack gives an app 3 seconds to answer an Events API request and retries otherwise; the
target here is a p99 under 300 ms (a tenth of that) while the bridge also does the work the
events cause (storing each customer message, acknowledgements, mirroring into threads).

The benchmark plays Slack: open-loop, it sends signed ``event_callback`` requests (customer
DMs from many users) at the given rate, timing each from its scheduled send to the HTTP
answer. A share of them are Slack-style retries (same ``event_id``, ``X-Slack-Retry-Num``).
The bridge runs in its own process, talking to the fake Web API in a third one. Afterwards
the database is counted: every distinct event stored exactly once.

    .venv/bin/python bench/slack_ack.py [--rate 200] [--seconds 10] [--retries 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Server, bridge_server, emit, machine, percentiles, run
from bench.slack_common import fake_slack, slack_env, wait_for
from tests.slack.signing import event_callback, message_event, sign

USERS = 500


async def load(
    server: Server, rate: float, seconds: float, retry_share: float
) -> tuple[list[float], int, int, int]:
    """Send for ``seconds``; returns latencies, errors, distinct events and retries sent."""
    latencies: list[float] = []
    errors = 0
    sent_events: list[bytes] = []
    retries = 0
    url = f"{server.base_url}/slack/events"
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(body: bytes, scheduled: float, retry: int | None) -> None:
            nonlocal errors
            headers = {"Content-Type": "application/json", **sign(body)}
            if retry is not None:
                headers["X-Slack-Retry-Num"] = str(retry)
                headers["X-Slack-Retry-Reason"] = "http_timeout"
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        tasks: set[asyncio.Task[None]] = set()
        total = int(rate * seconds)
        started = time.perf_counter()
        rng = random.Random(7)
        for n in range(total):
            scheduled = started + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if sent_events and rng.random() < retry_share:
                body, retry = rng.choice(sent_events), 1
                retries += 1
            else:
                user = n % USERS + 1
                event = message_event(
                    f"D{user:05d}", f"U{user:05d}", f"question {n}", channel_type="im"
                )
                body, retry = json.dumps(event_callback(event)).encode(), None
                sent_events.append(body)
            task = asyncio.create_task(post(body, scheduled, retry))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return latencies, errors, len(sent_events), retries


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def stored(server: Server) -> tuple[int, int]:
    """(customer messages stored, distinct external ids among them)."""
    with sqlite3.connect(server.database) as db:
        rows = db.execute(
            "SELECT count(*), count(DISTINCT external_id) FROM messages WHERE author = 'customer'"
        ).fetchone()
    return int(rows[0]), int(rows[1])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--retries", type=float, default=0.05, help="share sent twice")
    options = parser.parse_args()

    with fake_slack(limit=True, users=USERS) as fake:
        with bridge_server(**slack_env(fake)) as server:
            # Warm up (first connections, users.info cache for a few users).
            await load(server, 20, 1, 0)
            cpu_before, wall_before = cpu_seconds(server.process.pid), time.perf_counter()
            latencies, errors, events, retries = await load(
                server, options.rate, options.seconds, options.retries
            )
            cpu = cpu_seconds(server.process.pid) - cpu_before
            busy = cpu / (time.perf_counter() - wall_before)
            expected = events + 20  # the warm-up's
            with contextlib.suppress(RuntimeError):  # what is missing is reported as lost
                wait_for(lambda: stored(server)[0] >= expected, 120, "every event stored")
            count, distinct = stored(server)
        fake_stats = fake.stats()

    result: dict[str, Any] = {
        "benchmark": "slack_ack",
        "machine": machine(),
        "rate_per_second": options.rate,
        "seconds": options.seconds,
        "requests": len(latencies),
        "distinct_events": events,
        "retries_sent": retries,
        "errors": errors,
        "ack_latency_ms": percentiles(latencies),
        "bridge_cpu_percent_during_load": round(100 * busy, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "stored_customer_messages": count,
        "stored_distinct": distinct,
        "duplicates_stored": count - distinct,
        "lost": expected - distinct,
        "slack_api_calls": fake_stats["calls"],
        "target": {"p99_ms_below": 300},
    }
    result["ok"] = (
        result["ack_latency_ms"].get("p99", 1e9) < 300
        and errors == 0
        and result["duplicates_stored"] == 0
        and result["lost"] == 0
    )
    emit(result)


if __name__ == "__main__":
    run(main)
