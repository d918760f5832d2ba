"""Customer message to agent reply seen by the visitor, through one bridge process on SQLite.

Visitors write over the web chat websocket. An agent program follows ``GET /api/events``
(server-sent events) and, for every customer message, posts an internal note and then a
public reply through the API. A round trip is timed from the visitor's send to the reply
frame arriving on the visitor's socket; every round also checks that the note never arrived.

    .venv/bin/python bench/roundtrip.py [--visitors 20] [--rounds 25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, new_session, percentiles, run

NOTE = "internal: bench note"


async def agent(
    http: aiohttp.ClientSession, base_url: str, token: str, ready: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    posts: set[asyncio.Task[None]] = set()

    async def answer(conversation: int, message_id: int) -> None:
        url = f"{base_url}/api/conversations/{conversation}/messages"
        async with http.post(url, json={"text": NOTE, "internal": True}, headers=headers) as r:
            r.raise_for_status()
        reply = {"text": f"re {message_id}", "internal": False}
        async with http.post(url, json=reply, headers=headers) as r:
            r.raise_for_status()

    async with http.get(
        f"{base_url}/api/events?kinds=message.added", headers=headers, timeout=None
    ) as stream:
        ready.set()
        async for line in stream.content:
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[6:])
            message = event["message"]
            if message["author"] == "customer":
                task = asyncio.create_task(answer(message["conversation_id"], message["id"]))
                posts.add(task)
                task.add_done_callback(posts.discard)


async def visitor(
    http: aiohttp.ClientSession, base_url: str, name: str, rounds: int
) -> tuple[list[float], int]:
    token = await new_session(http, base_url, name)
    latencies: list[float] = []
    leaked = 0
    async with http.ws_connect(f"{base_url}/webchat/ws?token={token}") as ws:
        for n in range(rounds):
            started = time.perf_counter()
            await ws.send_json(
                {"type": "message", "text": f"question {n}", "client_msg_id": f"{name}-{n}"}
            )
            while True:
                frame = await ws.receive_json(timeout=30)
                if frame["type"] != "message":
                    continue
                if frame["text"] == NOTE:
                    leaked += 1
                if frame["author"] == "agent":
                    latencies.append(time.perf_counter() - started)
                    break
    return latencies, leaked


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    with bridge_server() as server:
        token = server.cli("agent", "add", "Bench Agent", "--email", "bench@example.com")
        token = token.strip().splitlines()[-1]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            ready = asyncio.Event()
            follower = asyncio.create_task(agent(http, server.base_url, token, ready))
            await ready.wait()
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(
                    visitor(http, server.base_url, f"v{n}", args.rounds)
                    for n in range(args.visitors)
                )
            )
            elapsed = time.perf_counter() - started
            follower.cancel()
    latencies = [x for samples, _ in outcomes for x in samples]
    result: dict[str, Any] = {
        "benchmark": "roundtrip",
        "channel": "webchat",
        "storage": "sqlite",
        "visitors": args.visitors,
        "round_trips": len(latencies),
        "seconds": round(elapsed, 2),
        "round_trips_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": percentiles(latencies),
        "notes_seen_by_visitors": sum(leaked for _, leaked in outcomes),
        "machine": machine(),
    }
    emit(result)


if __name__ == "__main__":
    run(main)
