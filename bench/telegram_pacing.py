"""Telegram pacing: a backlog of agent replies against a Bot API that enforces the limits.

The fake Bot API (tests/telegram/fake_bot_api.py) runs in this process with Telegram's flood
limits switched on: 30 messages/s per bot and one per second per chat in sliding windows,
answered with 429 and ``retry_after`` like the real one. ``bridge serve`` runs in its own
process on SQLite, polling the fake. Each of ``--chats`` customers writes once; then
``--replies`` agent replies are posted through the API, the same number to every
conversation, as fast as the API takes them (the backlog). Measured at the fake:

* the sending rate from the first reply to the last, against Telegram's 30/s (target: 95%);
* the share of sends answered 429 (target: at most 1%);
* per-chat order: every chat received its replies once each, in the order they were written.

    .venv/bin/python bench/telegram_pacing.py [--replies 5000] [--chats 500]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, run
from bench.telegram_common import ThreadedFake
from tests.telegram.fake_bot_api import Limits
from tests.telegram.updates import says

TELEGRAM_LIMIT = 30.0


async def conversation_ids(http: aiohttp.ClientSession, base_url: str, token: str) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    found: list[int] = []
    before: int | None = None
    while True:
        query = f"?limit=200&before={before}" if before else "?limit=200"
        async with http.get(f"{base_url}/api/conversations{query}", headers=headers) as r:
            r.raise_for_status()
            page = await r.json()
        found += [c["id"] for c in page["items"]]
        before = page["next_before"]
        if before is None:
            return found


async def post_replies(
    http: aiohttp.ClientSession,
    base_url: str,
    token: str,
    conversations: list[int],
    per_conversation: int,
    parallel: int = 32,
) -> float:
    """Post every reply (round by round, so each conversation's replies are in order);
    returns the seconds it took."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for round_ in range(per_conversation):
        queue = iter(conversations)

        async def worker(queue: Any = queue, round_: int = round_) -> None:
            for conversation in queue:
                async with http.post(
                    f"{base_url}/api/conversations/{conversation}/messages",
                    json={"text": f"reply {round_}", "internal": False},
                    headers=headers,
                ) as r:
                    r.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(parallel)))
    return time.perf_counter() - started


def windows(times: list[float], width: float = 10.0) -> list[float]:
    """Messages per second in consecutive windows of ``width`` seconds (full windows only)."""
    if not times:
        return []
    start = times[0]
    counts: dict[int, int] = {}
    for t in times:
        counts[int((t - start) // width)] = counts.get(int((t - start) // width), 0) + 1
    full = int((times[-1] - start) // width)
    return [round(counts.get(i, 0) / width, 2) for i in range(full)]


def dump(path: Path, calls: list[Any]) -> None:
    """Every send call as [time, chat, status, limit hit], for a closer look at 429s."""
    path.write_text(json.dumps([(c.at, c.chat_id, c.status, c.limited_by) for c in calls]))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=5000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--dump", help="write every sendMessage call (time, chat, status) here")
    args = parser.parse_args()
    per_conversation = max(1, args.replies // args.chats)

    threaded = ThreadedFake(limits=Limits())
    fake = threaded.__enter__()
    env = {
        "BRIDGE_CHANNELS__TELEGRAM__TOKEN": fake.token,
        "BRIDGE_CHANNELS__TELEGRAM__API_SERVER": fake.base_url,
        # Only the agents' replies go out: no acknowledgements or status updates.
        "BRIDGE_ROUTING__ACKNOWLEDGEMENTS__ENABLED": "false",
    }
    try:
        with bridge_server(**env) as server:
            token = server.cli("agent", "add", "Bench Agent", "--email", "bench@example.com")
            token = token.strip().splitlines()[-1]
            chats = list(range(100_001, 100_001 + args.chats))
            threaded.do(lambda: [says(fake, chat, "hello, I need help") for chat in chats])
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                deadline = time.monotonic() + 120
                conversations: list[int] = []
                while len(conversations) < args.chats:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the customers' messages did not all arrive")
                    await asyncio.sleep(0.2)
                    conversations = await conversation_ids(http, server.base_url, token)
                posting = await post_replies(
                    http, server.base_url, token, conversations, per_conversation
                )
            total = per_conversation * len(conversations)
            budget = total / TELEGRAM_LIMIT * 2 + 120
            await threaded.wait_for(lambda: len(fake.sent) >= total, timeout=budget)
    finally:
        threaded.__exit__()

    sent = sorted(fake.sent, key=lambda m: m.at)
    times = [m.at for m in sent]
    elapsed = times[-1] - times[0]
    rate = (len(sent) - 1) / elapsed if elapsed > 0 else 0.0
    calls = [c for c in fake.calls if c.method == "sendMessage"]
    limited = sum(1 for c in calls if c.status == 429)
    in_order = True
    once = True
    for chat, received in itertools.groupby(
        sorted(sent, key=lambda m: (m.chat_id, m.at)), key=lambda m: m.chat_id
    ):
        texts = [m.text for m in received]
        expected = [f"reply {n}" for n in range(per_conversation)]
        if sorted(texts) != expected:
            once = False
        if texts != expected:
            in_order = False
        del chat
    per_window = windows(times)
    if args.dump:
        dump(Path(args.dump), calls)
    emit(
        {
            "benchmark": "telegram_pacing",
            "replies": total,
            "chats": len(conversations),
            "posting_seconds": round(posting, 2),
            "sending_seconds": round(elapsed, 2),
            "messages_per_second": round(rate, 2),
            "share_of_telegram_limit": round(rate / TELEGRAM_LIMIT, 4),
            "target_share": 0.95,
            "per_10s_window_min": min(per_window) if per_window else None,
            "per_10s_window_max": max(per_window) if per_window else None,
            "send_calls": len(calls),
            "answered_429": limited,
            "share_429": round(limited / len(calls), 5) if calls else None,
            "answered_429_by_limit": {
                kind: sum(1 for c in calls if c.limited_by == kind) for kind in ("bot", "chat")
            },
            "target_share_429": 0.01,
            "every_reply_once": once,
            "per_chat_order_kept": in_order,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
