"""A Telegram outage of a full minute, with the bridge's production retry settings.

The tests cover the outage with a short one and a scaled-down retry schedule; this runs the
real length against ``bridge serve`` with its default settings (outbox retries from 1 s,
doubling, polling backoff up to 30 s). During the outage every Bot API call is answered 502;
customers keep writing (their updates wait at Telegram) and an agent keeps answering (the
replies wait in the outbox). Reported: whether every message and reply arrived once and in
order, and how long after the outage the last one did. Customers' messages follow within the
polling backoff (at most ``poll_backoff_max``, 30 s); replies within the outbox's exponential
retry schedule (``outbox.retry_initial``/``retry_max``), which after a minute of failures has
stretched to minutes.

    .venv/bin/python bench/telegram_outage.py [--outage 60] [--chats 5] [--messages 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, run
from bench.telegram_common import ThreadedFake
from bench.telegram_pacing import conversation_ids
from tests.telegram.updates import says


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--messages", type=int, default=4, help="per chat, during the outage")
    args = parser.parse_args()
    chats = list(range(300_001, 300_001 + args.chats))

    threaded = ThreadedFake()
    fake = threaded.__enter__()
    env = {
        "BRIDGE_CHANNELS__TELEGRAM__TOKEN": fake.token,
        "BRIDGE_CHANNELS__TELEGRAM__API_SERVER": fake.base_url,
        "BRIDGE_ROUTING__ACKNOWLEDGEMENTS__ENABLED": "false",
    }
    result: dict[str, Any] = {}
    try:
        with bridge_server(**env) as server:
            printed = server.cli("agent", "add", "Bench", "--email", "bench@example.com")
            token = printed.strip().splitlines()[-1]
            headers = {"Authorization": f"Bearer {token}"}
            threaded.do(lambda: [says(fake, chat, "before") for chat in chats])
            async with aiohttp.ClientSession() as http:
                conversations: list[int] = []
                while len(conversations) < len(chats):
                    await asyncio.sleep(0.2)
                    conversations = await conversation_ids(http, server.base_url, token)
                threaded.do(lambda: fake.outage(args.outage))
                started = time.monotonic()
                for n in range(args.messages):
                    threaded.do(lambda n=n: [says(fake, c, f"during {n}") for c in chats])
                    for conversation in conversations:
                        async with http.post(
                            f"{server.base_url}/api/conversations/{conversation}/messages",
                            json={"text": f"reply {n}", "internal": False},
                            headers=headers,
                        ) as response:
                            response.raise_for_status()
                    await asyncio.sleep(args.outage / (args.messages + 1))
                remaining = args.outage - (time.monotonic() - started)
                await asyncio.sleep(max(0.0, remaining))
                ended = time.monotonic()
                expected = args.messages * len(conversations)
                inbound_expected = (1 + args.messages) * len(chats)

                async def replies_arrive() -> float:
                    await threaded.wait_for(
                        lambda: sum(1 for m in fake.sent if m.text.startswith("reply")) >= expected,
                        timeout=900,
                    )
                    return time.monotonic()

                async def messages_arrive() -> tuple[float, list[Any]]:
                    deadline = time.monotonic() + 900
                    while True:
                        with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as db:
                            rows = db.execute(
                                "SELECT external_id, text FROM messages "
                                "WHERE source = 'telegram:default' ORDER BY id"
                            ).fetchall()
                        if len(rows) >= inbound_expected or time.monotonic() > deadline:
                            return time.monotonic(), rows
                        await asyncio.sleep(0.5)

                replies_done, (inbound_done, rows) = await asyncio.gather(
                    replies_arrive(), messages_arrive()
                )
        failed_calls = sum(1 for c in fake.calls if c.status >= 500)
        in_order = all(
            [m.text for m in fake.sent_to(chat)] == [f"reply {n}" for n in range(args.messages)]
            for chat in chats
        )
        by_chat: dict[str, list[str]] = {}
        for external_id, text in rows:
            by_chat.setdefault(external_id.split(":")[0], []).append(text)
        inbound_in_order = all(
            by_chat.get(str(chat)) == ["before"] + [f"during {n}" for n in range(args.messages)]
            for chat in chats
        )
        result = {
            "benchmark": "telegram_outage",
            "outage_seconds": args.outage,
            "calls_answered_5xx": failed_calls,
            "replies": expected,
            "replies_delivered_once_in_order": in_order
            and len([m for m in fake.sent if m.text.startswith("reply")]) == expected,
            "customer_messages": inbound_expected,
            "customer_messages_stored": len(rows),
            "customer_messages_once_in_order": inbound_in_order,
            "last_reply_after_outage_seconds": round(replies_done - ended, 1),
            "last_message_after_outage_seconds": round(inbound_done - ended, 1),
            "machine": machine(),
        }
    finally:
        threaded.__exit__()
    emit(result)


if __name__ == "__main__":
    run(main)
