"""Web chat messages accepted and committed per second by one bridge process on SQLite.

A separate load process holds many visitor websockets. Each message counts once the visitor
receives its echo, which the bridge sends only after the message is committed; latency is
from send to echo. Two phases:

* throughput: every connection sends as fast as its previous message is acknowledged;
* latency: an open-loop 200 messages/s spread over the connections (what a busy site sends).

Afterwards the database is counted: every acknowledged message must be stored exactly once.

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 200] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, new_session, percentiles, run


@dataclass
class Phase:
    acked: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    pending: dict[str, float] = field(default_factory=dict)


class Visitor:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, name: str) -> None:
        self.ws = ws
        self.name = name
        self.counter = itertools.count()
        self.acked = asyncio.Event()
        self.drained = asyncio.Event()  # nothing this visitor sent is waiting for its ack
        self.phase = Phase()

    async def read(self) -> None:
        async for raw in self.ws:
            if raw.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = raw.json()
            if frame["type"] == "message" and "client_msg_id" in frame:
                sent = self.phase.pending.pop(frame["client_msg_id"], None)
                if sent is not None:
                    self.phase.latencies.append(time.perf_counter() - sent)
                    self.phase.acked += 1
                    self.acked.set()
            elif frame["type"] == "error":
                self.phase.errors += 1
                self.phase.pending.pop(frame.get("client_msg_id", ""), None)
                self.acked.set()
            if not self.phase.pending:
                self.drained.set()

    async def send(self) -> None:
        key = f"{self.name}-{next(self.counter)}"
        self.phase.pending[key] = time.perf_counter()
        self.drained.clear()
        await self.ws.send_json(
            {"type": "message", "text": f"bench message {key}", "client_msg_id": key}
        )


async def closed_loop(visitors: list[Visitor], seconds: float) -> None:
    deadline = time.perf_counter() + seconds

    async def one(visitor: Visitor) -> None:
        while time.perf_counter() < deadline:
            visitor.acked.clear()
            await visitor.send()
            await visitor.acked.wait()

    await asyncio.gather(*(one(v) for v in visitors))


async def open_loop(visitors: list[Visitor], seconds: float, rate: float) -> None:
    interval = 1.0 / rate
    start = time.perf_counter()
    for n in range(int(seconds * rate)):
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await visitors[n % len(visitors)].send()
    async with asyncio.timeout(30):
        await asyncio.gather(*(v.drained.wait() for v in visitors if v.phase.pending))


def summary(visitors: list[Visitor], seconds: float) -> dict[str, Any]:
    acked = sum(v.phase.acked for v in visitors)
    latencies = [x for v in visitors for x in v.phase.latencies]
    return {
        "messages_acked": acked,
        "errors": sum(v.phase.errors for v in visitors),
        "seconds": round(seconds, 2),
        "messages_per_second": round(acked / seconds, 1),
        "latency_ms": percentiles(latencies),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()

    with bridge_server() as server:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            tokens = await asyncio.gather(
                *(new_session(http, server.base_url, f"v{n}") for n in range(args.connections))
            )
            sockets = await asyncio.gather(
                *(http.ws_connect(f"{server.base_url}/webchat/ws?token={t}") for t in tokens)
            )
            visitors = [Visitor(ws, f"v{n}") for n, ws in enumerate(sockets)]
            readers = [asyncio.create_task(v.read()) for v in visitors]

            await closed_loop(visitors, 2.0)  # warm up: conversations exist, caches are hot
            results: dict[str, Any] = {}
            for v in visitors:
                v.phase = Phase()
            started = time.perf_counter()
            await closed_loop(visitors, args.seconds)
            results["throughput"] = summary(visitors, time.perf_counter() - started)

            for v in visitors:
                v.phase = Phase()
            started = time.perf_counter()
            await open_loop(visitors, args.seconds, args.rate)
            results["latency_at_rate"] = {
                "rate": args.rate,
                **summary(visitors, time.perf_counter() - started),
            }
            for ws in sockets:
                await ws.close()
            for task in readers:
                task.cancel()
        with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as db:
            stored = db.execute(
                "SELECT count(*), count(DISTINCT external_id) FROM messages"
            ).fetchone()
    emit(
        {
            "benchmark": "ingest",
            "channel": "webchat",
            "storage": "sqlite",
            "connections": args.connections,
            **results,
            "stored_messages": stored[0],
            "stored_distinct": stored[1],
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
