"""Posting into Slack at Slack's pace: about 1 message/s per channel, without 429s.

The fake Web API (its own process) enforces Slack's limit strictly: a second
``chat.postMessage`` into a channel within a second is answered 429 with ``Retry-After``.
Customers write to the app from DMs (signed events); an agent answers each of them several
times at once through the API. That backs up two kinds of channel: the support channel,
where every conversation's thread is mirrored (roots, customer messages, replies), and each
customer's DM, where the replies go. For each channel that had a backlog, the rate is its
accepted posts over the time from its first to its last one; the target is at least 90% of
1 message/s per channel with at most 1% of the posts answered 429.

    .venv/bin/python bench/slack_threads.py [--customers 4] [--replies 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, run
from bench.slack_common import SUPPORT, fake_slack, slack_env, wait_for
from tests.slack.signing import event_callback, message_event, sign

#: Channels with at least this many posts had a backlog worth measuring.
MIN_POSTS = 5


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=4)
    parser.add_argument("--replies", type=int, default=8)
    options = parser.parse_args()
    customers, replies = options.customers, options.replies
    # Per conversation in the support channel: the root, the customer's message, the replies.
    expected_support = customers * (2 + replies)

    with fake_slack(limit=True, users=customers) as fake:
        env = slack_env(fake, BRIDGE_ROUTING__ACKNOWLEDGEMENTS__ENABLED="false")
        with bridge_server(**env) as server:
            token = server.cli("agent", "add", "Bench Agent", "--email", "agent@example.com")
            token = token.strip().splitlines()[-1]
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession() as http:
                for n in range(1, customers + 1):
                    event = message_event(
                        f"D{n:05d}", f"U{n:05d}", "my order is late", channel_type="im"
                    )
                    body = json.dumps(event_callback(event)).encode()
                    async with http.post(
                        f"{server.base_url}/slack/events",
                        data=body,
                        headers={"Content-Type": "application/json", **sign(body)},
                    ) as response:
                        assert response.status == 200
                ids = await conversation_ids(http, server.base_url, headers, customers)
                for reply in range(replies):
                    for conversation in ids:
                        url = f"{server.base_url}/api/conversations/{conversation}/messages"
                        answer = {"text": f"update {reply}", "internal": False}
                        async with http.post(url, json=answer, headers=headers) as response:
                            assert response.status == 201, await response.text()

            def done() -> bool:
                posts = [p for p in fake.stats()["posts"] if p[2] == 200]
                support = sum(1 for p in posts if p[0] == SUPPORT)
                dms = sum(1 for p in posts if p[0] != SUPPORT)
                return support >= expected_support and dms >= customers * replies

            wait_for(done, expected_support * 1.5 + 60, "every post")
        stats = fake.stats()

    accepted: dict[str, list[float]] = defaultdict(list)
    limited: dict[str, int] = defaultdict(int)
    for channel, at, status in stats["posts"]:
        if status == 200:
            accepted[channel].append(at)
        elif status == 429:
            limited[channel] += 1
    channels: dict[str, Any] = {}
    for channel, times in sorted(accepted.items()):
        if len(times) < MIN_POSTS:
            continue
        span = max(times) - min(times)
        channels[channel] = {
            "posts": len(times),
            "seconds": round(span, 2),
            "per_second": round((len(times) - 1) / span, 3) if span else None,
            "limited_429": limited[channel],
        }
    total_posts = sum(len(t) for t in accepted.values())
    total_limited = sum(limited.values())
    rates = [c["per_second"] for c in channels.values() if c["per_second"]]
    result: dict[str, Any] = {
        "benchmark": "slack_threads",
        "machine": machine(),
        "customers": customers,
        "replies_each": replies,
        "channels": channels,
        "min_rate_per_channel": min(rates) if rates else None,
        "share_of_limit_percent": round(100 * min(rates), 1) if rates else None,
        "posts": total_posts,
        "responses_429": total_limited,
        "rate_limited_percent": round(100 * total_limited / max(1, total_posts + total_limited), 2),
        "target": {"share_of_limit_percent_at_least": 90, "rate_limited_percent_at_most": 1},
    }
    result["ok"] = bool(rates) and min(rates) >= 0.9 and result["rate_limited_percent"] <= 1
    emit(result)


async def conversation_ids(
    http: aiohttp.ClientSession, base_url: str, headers: dict[str, str], count: int
) -> list[int]:
    """The ids of the customers' conversations, once all are stored."""
    for _ in range(200):
        async with http.get(f"{base_url}/api/conversations", headers=headers) as response:
            items = (await response.json())["items"]
        if len(items) >= count:
            return sorted(item["id"] for item in items)
        await asyncio.sleep(0.05)
    raise RuntimeError("the conversations were not created")


if __name__ == "__main__":
    run(main)
