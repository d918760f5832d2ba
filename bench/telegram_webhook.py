"""Telegram webhook ingest: updates committed per second by one bridge process on SQLite.

``bridge serve`` runs in its own process in webhook mode (it registers with a fake Bot API
running here, which also takes the acknowledgements it sends). This process plays Telegram:
``--connections`` concurrent senders post updates to ``POST /telegram/webhook`` with the
secret header, each the next message of one of ``--chats`` customers, and post the next as
soon as the previous is answered. An update counts once it is answered 200, which the bridge
does only after the message is committed; latency is from post to answer. Measured in the
steady state: every customer already has a conversation and its acknowledgement (those go out
paced to 30/s, so the warm-up waits for them).

Afterwards the database is counted: every acknowledged update must be stored exactly once.

    .venv/bin/python bench/telegram_webhook.py [--seconds 10] [--connections 100] [--chats 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, percentiles, run
from bench.telegram_common import ThreadedFake

SECRET = "bench-secret"


class Load:
    def __init__(self, chats: int) -> None:
        self.update_ids = itertools.count(1)
        self.message_ids: dict[int, itertools.count[int]] = {}
        self.chats = itertools.cycle(range(200_001, 200_001 + chats))
        self.acked = 0
        self.errors = 0
        self.latencies: list[float] = []

    def next_update(self) -> dict[str, Any]:
        chat = next(self.chats)
        message_id = next(self.message_ids.setdefault(chat, itertools.count(1)))
        return {
            "update_id": next(self.update_ids),
            "message": {
                "message_id": message_id,
                "from": {
                    "id": chat,
                    "is_bot": False,
                    "first_name": "Bench",
                    "language_code": "en",
                },
                "chat": {"id": chat, "type": "private", "first_name": "Bench"},
                "date": int(time.time()),
                "text": f"bench message {message_id} from {chat}",
            },
        }


async def sender(
    http: aiohttp.ClientSession,
    url: str,
    load: Load,
    deadline: float,
    record: bool,
    *,
    once: bool = False,
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    while time.perf_counter() < deadline:
        update = load.next_update()
        started = time.perf_counter()
        async with http.post(url, json=update, headers=headers) as response:
            await response.read()
            status = response.status
        if once:
            return
        if not record:
            continue
        if status == 200:
            load.acked += 1
            load.latencies.append(time.perf_counter() - started)
        else:
            load.errors += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    # Telegram opens at most 100 connections to a webhook (setWebhook max_connections).
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--chats", type=int, default=200)
    args = parser.parse_args()

    threaded = ThreadedFake()
    fake = threaded.__enter__()
    env = {
        "BRIDGE_CHANNELS__TELEGRAM__TOKEN": fake.token,
        "BRIDGE_CHANNELS__TELEGRAM__API_SERVER": fake.base_url,
        "BRIDGE_CHANNELS__TELEGRAM__MODE": "webhook",
        "BRIDGE_CHANNELS__TELEGRAM__WEBHOOK_SECRET": SECRET,
        # The fake does not push; the load below plays Telegram.
        "BRIDGE_CHANNELS__TELEGRAM__WEBHOOK_URL": "https://bridge.example.com/telegram/webhook",
    }
    load = Load(args.chats)
    try:
        with bridge_server(**env) as server:
            url = f"{server.base_url}/telegram/webhook"
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                # Warm up: every customer has a conversation and its acknowledgement (paced
                # at 30/s, so that takes a few seconds), and caches are hot.
                first = time.perf_counter() + 60
                await asyncio.gather(
                    *(sender(http, url, load, first, False, once=True) for _ in range(args.chats))
                )
                await threaded.wait_for(lambda: len(fake.sent) >= args.chats, timeout=120)
                warm = time.perf_counter() + 2.0
                await asyncio.gather(
                    *(sender(http, url, load, warm, False) for _ in range(args.connections))
                )
                started = time.perf_counter()
                deadline = started + args.seconds
                await asyncio.gather(
                    *(sender(http, url, load, deadline, True) for _ in range(args.connections))
                )
                elapsed = time.perf_counter() - started
            posted = next(load.update_ids) - 1
            with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as db:
                stored, distinct = db.execute(
                    "SELECT count(*), count(DISTINCT external_id) FROM messages "
                    "WHERE source = 'telegram:default'"
                ).fetchone()
    finally:
        threaded.__exit__()
    emit(
        {
            "benchmark": "telegram_webhook_ingest",
            "storage": "sqlite",
            "connections": args.connections,
            "chats": args.chats,
            "seconds": round(elapsed, 2),
            "updates_acked": load.acked,
            "errors": load.errors,
            "updates_per_second": round(load.acked / elapsed, 1),
            "target_per_second": 800,
            "latency_ms": percentiles(load.latencies),
            "updates_posted_in_all": posted,
            "stored_messages": stored,
            "stored_distinct": distinct,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
