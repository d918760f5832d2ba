"""Crash proof: two bridge processes under load, one killed with SIGKILL every few seconds.

Two `bridge serve` processes share a fresh PostgreSQL database and Redis, and talk to one fake
Telegram Bot API (long polling, which one process at a time runs under a Redis lock) and one
fake Slack Web API (customers' DMs arrive as signed Events API posts to either process). Web
chat visitors, Telegram customers and Slack customers keep writing while an agent replies to
conversations of all three channels and writes internal notes (bench/crash_load.py). Every
``--every`` seconds one process is killed with SIGKILL and started again; ``--kills`` times.
Afterwards the database, the fakes and what visitors saw are counted (bench/crash_check.py):

* every acknowledged customer message is stored exactly once;
* every accepted reply is stored once, has exactly one delivery, sent, and reached the
  customer exactly once (by its idempotency key and by its text); acknowledgements too;
* internal notes have no delivery at all and appear nowhere a customer looks.

``repeated_keys`` per fake counts the sends the idempotency key turned into no-ops: the times
a crash between the platform's answer and the outbox's record would have sent twice.

    .venv/bin/python bench/crash.py [--kills 20] [--every 3] [--visitors 20] [--telegram 10]
        [--slack 10] [--lease 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, emit, free_port, machine, run
from bench.crash_check import Database, FakeRecord, Received, verdict
from bench.crash_load import Load, slack_user
from bench.telegram_common import ThreadedFake
from tests.slack.fake_web_api import BOT_TOKEN, FakeSlack
from tests.slack.signing import SIGNING_SECRET
from tests.telegram.fake_bot_api import FakeBotApi

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/13"
TELEGRAM_TOKEN = "123:ABC"


class Process:
    def __init__(self, env: dict[str, str], folder: Path, number: int) -> None:
        self.port = free_port()
        self.env = {**env, "BRIDGE_SERVER__PORT": str(self.port)}
        self.folder = folder
        self.log = folder / f"bridge-{number}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve"],
                cwd=self.folder,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
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


def cli(folder: str, env: dict[str, str], *command: str) -> str:
    """``bridge <command>``; returns the last line it printed."""
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
    parser.add_argument("--telegram", type=int, default=10)
    parser.add_argument("--slack", type=int, default=10)
    parser.add_argument(
        "--lease", type=float, default=60.0, help="outbox.lease_seconds (60 by default)"
    )
    args = parser.parse_args()
    emit(
        await crash_run(
            args.kills, args.every, args.visitors, args.telegram, args.slack, lease=args.lease
        )
    )


def channel_env(telegram_url: str, slack_url: str) -> dict[str, str]:
    """The two channels pointed at the fakes. No Slack support channel: agents answer through
    the API here, and notes mirrored into Slack for agents would muddle the count of what
    customers received."""
    return {
        "BRIDGE_CHANNELS__TELEGRAM__TOKEN": TELEGRAM_TOKEN,
        "BRIDGE_CHANNELS__TELEGRAM__API_SERVER": telegram_url,
        "BRIDGE_CHANNELS__TELEGRAM__POLL_BACKOFF_MAX": "2",
        "BRIDGE_CHANNELS__SLACK__BOT_TOKEN": BOT_TOKEN,
        "BRIDGE_CHANNELS__SLACK__SIGNING_SECRET": SIGNING_SECRET,
        "BRIDGE_CHANNELS__SLACK__API_URL": slack_url,
        "BRIDGE_CHANNELS__SLACK__ALERT_QUEUE_LENGTH": "0",
        "BRIDGE_CHANNELS__SLACK__ALERT_OLDEST_WAIT": "0",
    }


async def start_slack(customers: int) -> FakeSlack:
    fake = FakeSlack()
    for n in range(customers):
        fake.add_user(slack_user(n), f"Customer {n}")
    await fake.start()
    return fake


def longest_poll_gap(fake: FakeBotApi, since: float, until: float) -> float:
    """The longest time without a getUpdates call while customers kept writing: how long
    polling stopped when its holder was killed, until another process took over."""
    times = sorted(c.at for c in fake.calls_of("getUpdates") if since <= c.at <= until)
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def telegram_record(fake: FakeBotApi) -> FakeRecord:
    received = [Received(str(m.chat_id), (m.text, *m.edits), m.key) for m in fake.sent]
    return FakeRecord(received, fake.repeated_keys, [])


def slack_record(fake: FakeSlack) -> FakeRecord:
    received = [Received(p.channel, (p.text, *p.edits), p.key) for p in fake.posted]
    other = [json.dumps(e) for e in [*fake.ephemeral, *fake.responses]]
    return FakeRecord(received, fake.repeated_keys, other)


async def drain(load: Load, dsn: str) -> None:
    """Wait until Telegram's updates are confirmed and the outbox is quiet: nothing pending and
    no new delivery for a few checks in a row, so that acknowledgements of the last messages
    are counted too."""
    fake = load.telegram
    with contextlib.suppress(TimeoutError):  # counted as updates never confirmed
        await fake.wait_for(lambda: fake.fake is not None and fake.fake.pending_updates == 0, 30)
    db = await asyncpg.connect(dsn)
    try:
        calm, last = 0, None
        for _ in range(300):
            row = await db.fetchrow(
                "SELECT count(*) FILTER (WHERE state = 'pending') AS pending, count(*) AS n "
                "FROM deliveries"
            )
            calm = calm + 1 if row["pending"] == 0 and row["n"] == last else 0
            last = row["n"]
            if calm == 4:
                break
            await asyncio.sleep(0.5)
    finally:
        await db.close()


async def forget_redis(prefix: str) -> None:
    """Delete the run's keys (its event stream holds up to 100,000 events)."""
    client = Redis.from_url(REDIS)
    try:
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)
    finally:
        await client.aclose()


async def read_database(dsn: str) -> Database:
    db = await asyncpg.connect(dsn)
    try:
        customer = await db.fetch(
            "SELECT c.channel, m.text, count(*) AS n FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.author = 'customer' GROUP BY c.channel, m.text"
        )
        agent = await db.fetch(
            "SELECT m.text, m.visibility, count(d.id) AS deliveries, "
            "count(d.id) FILTER (WHERE d.state = 'sent') AS sent "
            "FROM messages m LEFT JOIN deliveries d ON d.message_id = m.id "
            "WHERE m.author = 'agent' GROUP BY m.id, m.text, m.visibility"
        )
        deliveries = await db.fetch(
            "SELECT d.idempotency_key AS key, d.state, d.channel, d.thread_key, m.author, m.text "
            "FROM deliveries d JOIN messages m ON m.id = d.message_id"
        )
        conversations = await db.fetch(
            "SELECT c.channel, count(*) AS n, "
            "count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM messages m "
            "WHERE m.conversation_id = c.id AND m.author = 'bot')) AS silent, "
            "count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM messages m "
            "WHERE m.conversation_id = c.id AND m.author = 'bot') AND EXISTS (SELECT 1 FROM "
            "waits w WHERE w.conversation_id = c.id AND w.promise_made_at IS NOT NULL)) "
            "AS promised FROM conversations c GROUP BY c.channel"
        )
    finally:
        await db.close()
    return Database(
        [(r["channel"], r["text"], int(r["n"])) for r in customer],
        [(r["text"], r["visibility"], int(r["deliveries"]), int(r["sent"])) for r in agent],
        [dict(r) for r in deliveries],
        {r["channel"]: (int(r["n"]), int(r["silent"]), int(r["promised"])) for r in conversations},
    )


async def crash_run(
    kills: int,
    every: float,
    visitors: int,
    telegram: int = 10,
    slack: int = 10,
    *,
    lease: float = 60.0,
) -> dict[str, Any]:
    """The whole run; also what tests/scale/test_crash.py calls with a few kills. ``lease``:
    how long a killed process's claimed deliveries wait before another process sends them."""
    name = f"bridge_crash_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    started = time.monotonic()
    folder = tempfile.mkdtemp(prefix="bridge-crash-")
    fakes = ThreadedFake(token=TELEGRAM_TOKEN)
    bot_api = fakes.__enter__()
    slack_api: FakeSlack = fakes.call(lambda: start_slack(slack))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BRIDGE_LOGGING__LEVEL": "WARNING",
        "BRIDGE_STORAGE__DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://"),
        "BRIDGE_STORAGE__REDIS_URL": REDIS,
        "BRIDGE_STORAGE__REDIS_PREFIX": name,
        "BRIDGE_STORAGE__FILES_DIR": str(Path(folder) / "files"),
        "BRIDGE_CHANNELS__WEBCHAT__RATE_LIMIT_PER_MINUTE": "0",
        "BRIDGE_WEB__CSAT_ENABLED": "false",
        # Fast retries, so the drain at the end does not wait on a long backoff.
        "BRIDGE_OUTBOX__RETRY_MAX": "2",
        "BRIDGE_OUTBOX__LEASE_SECONDS": str(lease),
        **channel_env(bot_api.base_url, slack_api.base_url),
    }
    processes = [Process(env, Path(folder), n) for n in range(2)]
    try:
        async with aiohttp.ClientSession() as http:
            # The schema first: two processes starting at once on an empty database would both
            # create it.
            await asyncio.to_thread(cli, folder, env, "migrate")
            for process in processes:
                process.start()
            await asyncio.gather(*(ready(http, process) for process in processes))
            agent = ["agent", "add", "Crash Agent", "--email", "crash@example.com"]
            token = await asyncio.to_thread(cli, folder, env, *agent)
            load = Load(processes, token, fakes)
            tasks = [asyncio.create_task(load.visitor(http, n)) for n in range(visitors)]
            tasks += [asyncio.create_task(load.telegram_customer(n)) for n in range(telegram)]
            tasks += [asyncio.create_task(load.slack_customer(http, n)) for n in range(slack)]
            tasks.append(asyncio.create_task(load.agent(http)))
            load_started = time.monotonic()
            restarts: list[float] = []
            for _ in range(kills):
                await asyncio.sleep(every)
                victim = random.choice(processes)
                victim.kill()
                await asyncio.sleep(0.5)
                victim.start()
                begun = time.monotonic()
                await ready(http, victim)
                restarts.append(time.monotonic() - begun)
            await asyncio.sleep(every)
            load.running = False
            loaded = time.monotonic()
            await asyncio.gather(*tasks, return_exceptions=True)
            await drain(load, dsn)
            await load.telegram_confirmed()
            drained = time.monotonic()
        database = await read_database(dsn)
        records = {
            "telegram": await fakes.run(lambda: telegram_record(bot_api)),
            "slack": await fakes.run(lambda: slack_record(slack_api)),
        }
        gap = await fakes.run(lambda: longest_poll_gap(bot_api, load_started, loaded))
    finally:
        for process in processes:
            process.stop()
        fakes.call(slack_api.stop)
        fakes.__exit__(None, None, None)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await forget_redis(name)
    result = verdict(load, database, records)
    result["telegram"]["longest_poll_gap_seconds"] = round(gap, 1)
    logs = None
    silent = any(result[c]["conversations_without_auto_acknowledgement"] for c in records)
    if not result["ok"] or silent:  # keep the processes' logs for whoever looks into it
        logs = shutil.copytree(folder, Path(tempfile.gettempdir()) / f"{name}-logs")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "crash",
        "kills": kills,
        "every_seconds": every,
        "lease_seconds": lease,
        "seconds": round(time.monotonic() - started, 1),
        "drain_seconds": round(drained - loaded, 1),
        "restart_seconds": {
            "mean": round(sum(restarts) / len(restarts), 1) if restarts else None,
            "max": round(max(restarts), 1) if restarts else None,
        },
        "customers": {"webchat": visitors, "telegram": telegram, "slack": slack},
        **result,
        "logs": str(logs) if logs else None,
        "machine": machine(),
    }


if __name__ == "__main__":
    run(main)
