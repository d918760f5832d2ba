"""Inbox first paint with a full store: server time of ``GET /inbox`` for a signed-in agent.

The store is filled before the bridge starts (10,000 conversations by default, ``--queued``
of them waiting in the queue, the rest resolved), then ``bridge serve`` runs as a separate
process and an agent signs in through ``/login``. Each request is timed by the client (loopback
round trip) and by the page's own ``Server-Timing`` header (the handler's time).

    .venv/bin/python bench/inbox_page.py [--conversations 10000] [--queued 1000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Server, emit, free_port, machine, percentiles, run, wait_ready
from bridge.clock import SystemClock
from bridge.inbound import InboundMessage
from bridge.model import ThreadRef
from bridge.ports import ConversationPolicy
from storage.store import Storage

PASSWORD = "bench password 123"
_TIMING = re.compile(r"app;dur=([\d.]+)")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def fill(database: Path, conversations: int, queued: int) -> None:
    storage = Storage.open(f"sqlite+aiosqlite:///{database}")
    try:
        await storage.prepare(auto_migrate=True)
        now = SystemClock().now()
        policy = ConversationPolicy(reopen_window=timedelta(hours=1))
        for start in range(0, conversations, 500):
            items = [
                InboundMessage(
                    thread=ThreadRef("webchat", "default", f"v{n}"),
                    external_id=f"m{n}",
                    sender_id=f"v{n}",
                    sender_name=f"Customer {n}",
                    text=f"Hello, my order {n} has a problem with the delivery address",
                    received_at=now - timedelta(seconds=conversations - n),
                )
                for n in range(start, min(conversations, start + 500))
            ]
            await storage.ingest.ingest_batch(items, policy, now)
        resolved = conversations - queued

        def resolve(connection: object) -> None:
            connection.exec_driver_sql(  # type: ignore[attr-defined]
                "UPDATE conversations SET status='resolved', waiting_since=NULL, "
                "resolved_at=created_at WHERE id <= ?",
                (resolved,),
            )
            connection.exec_driver_sql(  # type: ignore[attr-defined]
                "UPDATE waits SET closed_at=started_at WHERE conversation_id <= ?", (resolved,)
            )

        await storage.database.run_write(resolve)
    finally:
        await storage.close()


async def sign_in(http: aiohttp.ClientSession, base: str) -> None:
    async with http.get(base + "/login") as response:
        token = _CSRF.search(await response.text())
    assert token
    async with http.post(
        base + "/login",
        data={"csrf": token.group(1), "email": "bench@example.com", "password": PASSWORD},
        allow_redirects=False,
    ) as response:
        assert response.status == 303, await response.text()


async def measure(http: aiohttp.ClientSession, url: str, count: int) -> dict[str, object]:
    client: list[float] = []
    server: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        async with http.get(url) as response:
            body = await response.read()
            assert response.status == 200, body[:200]
            found = _TIMING.search(response.headers.get("Server-Timing", ""))
        client.append(time.perf_counter() - started)
        if found:
            server.append(float(found.group(1)) / 1000)
    return {
        "requests": count,
        "server_ms": percentiles(server),
        "client_ms": percentiles(client),
        "bytes": len(body),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--queued", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as folder:
        started = time.perf_counter()
        await fill(Path(folder) / "var" / "bridge.db", args.conversations, args.queued)
        filled = time.perf_counter() - started
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BRIDGE_SERVER__PORT": str(port),
            "BRIDGE_LOGGING__LEVEL": "WARNING",
        }
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
            cwd=folder,
            env=env,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        process = await asyncio.to_thread(
            subprocess.Popen, [sys.executable, "-m", "bridge", "serve"], cwd=folder, env=env
        )
        server = Server(process, f"http://127.0.0.1:{port}", Path(folder), env)
        try:
            wait_ready(server)
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                await sign_in(http, server.base_url)
                await measure(http, server.base_url + "/inbox", 10)  # warm up
                queue_page = await measure(http, server.base_url + "/inbox", args.requests)
                search = await measure(
                    http, server.base_url + "/inbox?q=order+4242", max(10, args.requests // 4)
                )
                conversation = await measure(
                    http, server.base_url + f"/inbox?c={args.conversations}", args.requests
                )
        finally:
            process.terminate()
            process.wait(timeout=60)
    emit(
        {
            "benchmark": "inbox_page",
            "storage": "sqlite",
            "conversations": args.conversations,
            "queued": args.queued,
            "fill_seconds": round(filled, 1),
            "inbox_queue_page": queue_page,
            "inbox_search_text": search,
            "inbox_conversation_view": conversation,
            "target": "server p50/p99 under 300 ms",
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
