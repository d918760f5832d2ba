"""End to end on one bridge process on SQLite: a customer's first message in, and the bridge's
automatic acknowledgement out through the outbox to the customer's channel.

The channel is the web chat, and its far end is the visitor's own websocket, held by this
separate load process. Each measured message is a new customer's first, so each one opens a
conversation and gets an acknowledgement ("we have it, reference #…, about N minutes"): the
ingest transaction, the router's promise (claimed in the store), the bot message and its
delivery in the outbox, the dispatcher's claim, the send, and the recorded outcome. Latency is
from the visitor sending its message to the acknowledgement frame arriving. Two phases:

* throughput: ``--in-flight`` customers at a time, each next one writing as soon as one is
  acknowledged (sustained for ``--seconds``);
* latency: an open-loop ``--rate`` new customers per second.

Sessions and sockets are opened before either phase (what the widget does when the page loads),
so the figures are about messages, not connection setup. Afterwards the database is counted:
every acknowledged message stored once, every conversation acknowledged exactly once, every
acknowledgement delivered once, and every visitor received exactly one acknowledgement frame.

    .venv/bin/python bench/end_to_end.py [--seconds 10] [--in-flight 300] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Server, bridge_server, emit, machine, new_session, percentiles, run

TARGET_RATE = 1400.0
TARGET_P99_MS = 50.0


@dataclass
class Customer:
    name: str
    ws: aiohttp.ClientWebSocketResponse
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)
    sent_at: float = 0.0
    latency: float | None = None
    echoed: bool = False
    acks: int = 0  # acknowledgement frames received: must end as exactly one
    errors: int = 0

    async def read(self) -> None:
        async for raw in self.ws:
            if raw.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = raw.json()
            if frame["type"] == "message" and frame.get("author") == "bot":
                self.acks += 1
                if self.latency is None:
                    self.latency = time.perf_counter() - self.sent_at
                    self.acknowledged.set()
            elif frame["type"] == "message" and frame.get("client_msg_id") == self.name:
                self.echoed = True
            elif frame["type"] == "error":
                self.errors += 1
                self.acknowledged.set()

    async def write(self) -> None:
        self.sent_at = time.perf_counter()
        await self.ws.send_json(
            {"type": "message", "text": f"hello from {self.name}", "client_msg_id": self.name}
        )


async def open_customers(
    http: aiohttp.ClientSession,
    server: Server,
    count: int,
    prefix: str,
    readers: list[asyncio.Task[None]],
) -> list[Customer]:
    customers: list[Customer] = []
    for start in range(0, count, 250):
        names = [f"{prefix}{n}" for n in range(start, min(count, start + 250))]
        tokens = await asyncio.gather(*(new_session(http, server.base_url, n) for n in names))
        sockets = await asyncio.gather(
            *(http.ws_connect(f"{server.base_url}/webchat/ws?token={t}") for t in tokens)
        )
        await asyncio.gather(*(ws.receive() for ws in sockets))  # the greeting status frame
        opened = [Customer(n, ws) for n, ws in zip(names, sockets, strict=True)]
        # Read from the start: the bridge's heartbeat closes a socket whose pings go unanswered.
        readers.extend(asyncio.create_task(c.read()) for c in opened)
        customers += opened
    return customers


async def closed_loop(customers: Iterator[Customer], in_flight: int, seconds: float) -> int:
    deadline = time.perf_counter() + seconds
    done = 0

    async def one() -> None:
        nonlocal done
        for customer in customers:
            if time.perf_counter() >= deadline:
                return
            await customer.write()
            await customer.acknowledged.wait()
            done += 1

    await asyncio.gather(*(one() for _ in range(in_flight)))
    return done


async def open_loop(customers: list[Customer], rate: float) -> None:
    start = time.perf_counter()
    for n, customer in enumerate(customers):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await customer.write()
    async with asyncio.timeout(30):
        await asyncio.gather(*(c.acknowledged.wait() for c in customers))


def summary(customers: list[Customer], seconds: float) -> dict[str, Any]:
    acked = [c for c in customers if c.latency is not None]
    return {
        "customers": len(customers),
        "acknowledged": len(acked),
        "errors": sum(c.errors for c in customers),
        "seconds": round(seconds, 2),
        "messages_per_second": round(len(acked) / seconds, 1),
        "latency_ms": percentiles([c.latency for c in acked if c.latency is not None]),
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_database(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:

        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0])

        return {
            "customer_messages": one("SELECT count(*) FROM messages WHERE author = 'customer'"),
            "customer_messages_distinct": one(
                "SELECT count(DISTINCT external_id) FROM messages WHERE author = 'customer'"
            ),
            "conversations": one("SELECT count(*) FROM conversations"),
            "conversations_not_acknowledged_once": one(
                "SELECT count(*) FROM conversations c WHERE (SELECT count(*) FROM messages m"
                " WHERE m.conversation_id = c.id AND m.author = 'bot') <> 1"
            ),
            "acknowledgements_not_sent_once": one(
                "SELECT count(*) FROM messages m WHERE m.author = 'bot' AND (SELECT count(*)"
                " FROM deliveries d WHERE d.message_id = m.id AND d.state = 'sent') <> 1"
            ),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--in-flight", type=int, default=300)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument(
        "--capacity", type=float, default=2500.0, help="customers opened per second of phase 1"
    )
    args = parser.parse_args()

    sockets = int(args.capacity * args.seconds + args.rate * args.seconds + 1000)
    # Every customer holds a socket on both sides; root may raise its own hard limit.
    limit = sockets + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(hard, limit)))

    with bridge_server(
        BRIDGE_CHANNELS__WEBCHAT__MAX_CONNECTIONS=str(sockets + 100),
    ) as server:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            opening = time.perf_counter()
            readers: list[asyncio.Task[None]] = []
            warm = await open_customers(http, server, 500, "warm", readers)
            throughput = await open_customers(
                http, server, int(args.capacity * args.seconds), "t", readers
            )
            steady = await open_customers(http, server, int(args.rate * args.seconds), "r", readers)
            opened_in = time.perf_counter() - opening
            everyone = [*warm, *throughput, *steady]

            await closed_loop(iter(warm), 100, 60.0)  # warm up the code paths and caches
            print("throughput phase", file=sys.stderr, flush=True)
            cpu = cpu_seconds(server.process.pid)
            started = time.perf_counter()
            await closed_loop(iter(throughput), args.in_flight, args.seconds)
            elapsed = time.perf_counter() - started
            used = [c for c in throughput if c.sent_at]
            async with asyncio.timeout(30):  # the last ones in flight at the deadline
                await asyncio.gather(*(c.acknowledged.wait() for c in used))
            cpu = cpu_seconds(server.process.pid) - cpu
            results = {
                "throughput": {
                    "in_flight": args.in_flight,
                    **summary(used, elapsed),
                    # What each message costs the bridge, whatever else the machine runs.
                    "server_cpu_ms_per_message": round(cpu * 1000 / max(1, len(used)), 3),
                }
            }

            print("latency phase", file=sys.stderr, flush=True)
            started = time.perf_counter()
            await open_loop(steady, args.rate)
            results["latency_at_rate"] = {
                "rate": args.rate,
                **summary(steady, time.perf_counter() - started),
            }
            await asyncio.sleep(1.0)  # a late duplicate acknowledgement would arrive by now
            for customer in everyone:
                await customer.ws.close()
            for task in readers:
                task.cancel()
            written = [c for c in everyone if c.sent_at]
        counted = count_database(server.database)
    rate = results["throughput"]["messages_per_second"]
    p99 = results["latency_at_rate"]["latency_ms"].get("p99", float("inf"))
    emit(
        {
            "benchmark": "end_to_end",
            "channel": "webchat",
            "storage": "sqlite",
            "sessions_opened_seconds": round(opened_in, 1),
            **results,
            "customers_writing": len(written),
            "customers_without_echo": sum(1 for c in written if not c.echoed),
            "customers_not_acknowledged_once": sum(1 for c in written if c.acks != 1),
            "database": counted,
            "targets": {
                "messages_per_second": TARGET_RATE,
                "p99_ms_at_rate": TARGET_P99_MS,
                "met": rate >= TARGET_RATE and p99 <= TARGET_P99_MS,
            },
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
