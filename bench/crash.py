"""Crash proof: two bridge processes under load, one killed with SIGKILL every few seconds.

Two `bridge serve` processes share a fresh PostgreSQL database and Redis. Web chat visitors
keep writing (each message resent with the same `client_msg_id` until its echo arrives, as the
widget does), and an agent keeps replying and writing notes through the API (each request
repeated with the same `Idempotency-Key` until it is answered). Every `--every` seconds one
process is killed with SIGKILL and started again; `--kills` times. Afterwards, from the
database:

* every acknowledged customer message is stored exactly once;
* every accepted reply is stored once and has exactly one delivery, sent;
* internal notes have no delivery at all.

    .venv/bin/python bench/crash.py [--kills 20] [--every 3] [--visitors 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, emit, free_port, machine, run

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/13"


class Process:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.port = free_port()
        self.env = {**env, "BRIDGE_SERVER__PORT": str(self.port)}
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


async def ready(http: aiohttp.ClientSession, process: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get(process.url + "/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("a bridge process did not start")


class Load:
    def __init__(self, processes: list[Process], token: str) -> None:
        self.processes = processes
        self.auth = {"Authorization": f"Bearer {token}"}
        self.acked: set[str] = set()
        self.replies: set[str] = set()
        self.notes: set[str] = set()
        self.resends = 0
        self.running = True

    async def visitor(self, http: aiohttp.ClientSession, n: int) -> None:
        token = None
        count = 0
        while self.running:
            process = self.processes[(n + count) % len(self.processes)]
            try:
                if token is None:
                    async with http.post(process.url + "/webchat/sessions", json={}) as response:
                        token = (await response.json())["token"]
                async with http.ws_connect(f"{process.url}/webchat/ws?token={token}") as ws:
                    while self.running:
                        key = f"v{n}-m{count}"
                        await ws.send_json({"type": "message", "text": key, "client_msg_id": key})
                        while True:
                            frame = await asyncio.wait_for(ws.receive_json(), 10)
                            if frame.get("type") == "message" and frame.get("text") == key:
                                break
                        self.acked.add(key)
                        count += 1
                        await asyncio.sleep(random.uniform(0.05, 0.3))
            except (aiohttp.ClientError, TimeoutError, ConnectionError, TypeError, ValueError):
                self.resends += 1  # the same key goes again, to whichever process answers
                await asyncio.sleep(0.2)

    async def agent(self, http: aiohttp.ClientSession) -> None:
        n = 0
        while self.running:
            process = random.choice(self.processes)
            try:
                async with http.get(
                    process.url + "/api/conversations?limit=50", headers=self.auth
                ) as r:
                    items = (await r.json())["items"]
                if not items:
                    await asyncio.sleep(0.2)
                    continue
                conversation = random.choice(items)["id"]
                internal = n % 3 == 2
                key = f"a{n}-{'note' if internal else 'reply'}"
                await self._post(http, conversation, key, internal)
                (self.notes if internal else self.replies).add(key)
                n += 1
                await asyncio.sleep(0.1)
            except (aiohttp.ClientError, TimeoutError, ConnectionError, KeyError):
                await asyncio.sleep(0.2)

    async def _post(
        self, http: aiohttp.ClientSession, conversation: int, key: str, internal: bool
    ) -> None:
        """Repeat with the same Idempotency-Key, on either process, until it is answered."""
        while True:
            process = random.choice(self.processes)
            try:
                async with http.post(
                    f"{process.url}/api/conversations/{conversation}/messages",
                    json={"text": key, "internal": internal},
                    headers={**self.auth, "Idempotency-Key": key},
                ) as response:
                    if response.status in (200, 201):
                        return
            except (aiohttp.ClientError, TimeoutError, ConnectionError):
                pass
            await asyncio.sleep(0.2)


def add_agent(folder: str, env: dict[str, str]) -> str:
    command = ["agent", "add", "Crash Agent", "--email", "crash@example.com"]
    result = subprocess.run(
        [sys.executable, "-m", "bridge", *command],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--every", type=float, default=3.0)
    parser.add_argument("--visitors", type=int, default=20)
    args = parser.parse_args()
    emit(await crash_run(args.kills, args.every, args.visitors))


async def crash_run(kills: int, every: float, visitors: int) -> dict[str, Any]:
    """The whole run; also what tests/scale/test_crash.py calls with a few kills."""
    name = f"bridge_crash_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BRIDGE_LOGGING__LEVEL": "WARNING",
        "BRIDGE_STORAGE__DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://"),
        "BRIDGE_STORAGE__REDIS_URL": REDIS,
        "BRIDGE_STORAGE__REDIS_PREFIX": name,
        "BRIDGE_CHANNELS__WEBCHAT__RATE_LIMIT_PER_MINUTE": "0",
        "BRIDGE_WEB__CSAT_ENABLED": "false",
        # Fast retries, so the drain at the end does not wait on a long backoff.
        "BRIDGE_OUTBOX__RETRY_MAX": "2",
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bridge-crash-") as folder:
        files = Path(folder) / "files"
        env["BRIDGE_STORAGE__FILES_DIR"] = str(files)
        processes = [Process(env, Path(folder)) for _ in range(2)]
        try:
            async with aiohttp.ClientSession() as http:
                processes[0].start()
                await ready(http, processes[0])
                processes[1].start()
                await ready(http, processes[1])
                token = await asyncio.to_thread(add_agent, folder, processes[0].env)
                load = Load(processes, token)
                tasks = [asyncio.create_task(load.visitor(http, n)) for n in range(visitors)]
                tasks.append(asyncio.create_task(load.agent(http)))
                for _ in range(kills):
                    await asyncio.sleep(every)
                    victim = random.choice(processes)
                    victim.kill()
                    await asyncio.sleep(0.5)
                    victim.start()
                    await ready(http, victim)
                await asyncio.sleep(every)
                load.running = False
                await asyncio.gather(*tasks, return_exceptions=True)
                # Let the outbox drain: no pending deliveries left.
                db = await asyncpg.connect(dsn)
                for _ in range(600):
                    pending = await db.fetchval(
                        "SELECT count(*) FROM deliveries WHERE state = 'pending'"
                    )
                    if pending == 0:
                        break
                    await asyncio.sleep(0.1)
                stored = await db.fetch(
                    "SELECT external_id, count(*) AS n FROM messages "
                    "WHERE author = 'customer' GROUP BY external_id"
                )
                agent_rows = await db.fetch(
                    "SELECT m.external_id, m.visibility, count(d.id) AS deliveries, "
                    "count(d.id) FILTER (WHERE d.state = 'sent') AS sent "
                    "FROM messages m LEFT JOIN deliveries d ON d.message_id = m.id "
                    "WHERE m.author = 'agent' GROUP BY m.id, m.external_id, m.visibility"
                )
                await db.close()
        finally:
            for process in processes:
                process.stop()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    # The web chat stores "<visitor id>:<client_msg_id>"; the keys here are unique per visitor.
    customer: dict[str, int] = {}
    for row in stored:
        key = str(row["external_id"]).rsplit(":", 1)[-1]
        customer[key] = customer.get(key, 0) + int(row["n"])
    lost = sorted(load.acked - set(customer))
    twice = sorted(k for k, n in customer.items() if n > 1)
    by_key: dict[str, list[asyncpg.Record]] = {}
    for row in agent_rows:
        by_key.setdefault(row["external_id"], []).append(row)
    replies_bad = [
        k
        for k in load.replies
        if len(by_key.get(k, [])) != 1
        or by_key[k][0]["deliveries"] != 1
        or by_key[k][0]["sent"] != 1
    ]
    notes_delivered = [k for k in load.notes if any(r["deliveries"] for r in by_key.get(k, []))]
    return {
        "benchmark": "crash",
        "kills": kills,
        "every_seconds": every,
        "seconds": round(time.monotonic() - started, 1),
        "acknowledged_customer_messages": len(load.acked),
        "customer_messages_lost": len(lost),
        "customer_messages_stored_twice": len(twice),
        "visitor_resends": load.resends,
        "replies_accepted": len(load.replies),
        "replies_not_exactly_once_sent": len(replies_bad),
        "notes_written": len(load.notes),
        "notes_with_deliveries": len(notes_delivered),
        "ok": not lost and not twice and not replies_bad and not notes_delivered,
        "examples": {"lost": lost[:5], "twice": twice[:5], "replies": replies_bad[:5]},
        "machine": machine(),
    }


if __name__ == "__main__":
    run(main)
