"""Email delivery to agents: from a customer's SMTP send to the conversation on the agents'
event stream, with the bridge reading the mailbox over IMAP IDLE.

The bridge runs as a separate process (``bridge serve``, SQLite) pointed at a throwaway
Dovecot (tests/email/servers.py). This process holds an SMTP server that delivers into
Dovecot's maildir (as a local MTA would) and an agent's ``GET /api/events`` stream. Each
sample is a mail with its own Message-ID; latency runs from the start of the SMTP send to
the ``message.added`` event carrying that id. Mails are sent open-loop at ``--rate`` per
second, from ``--customers`` different addresses.

    .venv/bin/python bench/email_latency.py [--messages 200] [--rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, percentiles, run
from tests.email.servers import PASSWORD, SUPPORT, Dovecot, SmtpSink


def mail(number: int, customers: int) -> tuple[str, EmailMessage]:
    message_id = f"{uuid.uuid4().hex}@bench.example.org"
    message = EmailMessage()
    message["From"] = f"Customer <c{number % customers}@bench.example.org>"
    message["To"] = SUPPORT
    message["Subject"] = f"Question {number}"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content(f"Hello, this is question number {number}.\n\nThanks")
    return message_id, message


async def until(condition: Callable[[], bool], changed: asyncio.Event, timeout: float) -> bool:
    """Wait for ``condition`` (re-checked whenever ``changed`` is set); False on timeout."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not condition():
                changed.clear()
                await changed.wait()
    return condition()


async def follow(
    http: aiohttp.ClientSession,
    url: str,
    token: str,
    arrived: dict[str, float],
    changed: asyncio.Event,
) -> None:
    """Read the agents' event stream; note when each message id shows up."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as r:
        r.raise_for_status()
        async for raw in r.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            payload: dict[str, Any] = json.loads(line[6:])
            external = (payload.get("message") or {}).get("external_id")
            if external and external not in arrived:
                arrived[external] = time.monotonic()
                changed.set()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="mails per second")
    parser.add_argument("--customers", type=int, default=50)
    args = parser.parse_args()

    dovecot = Dovecot().start()
    sink = await SmtpSink(dovecot).start()
    env = {
        "BRIDGE_CHANNELS__EMAIL__IMAP_HOST": "127.0.0.1",
        "BRIDGE_CHANNELS__EMAIL__IMAP_PORT": str(dovecot.port),
        "BRIDGE_CHANNELS__EMAIL__IMAP_SECURITY": "none",
        "BRIDGE_CHANNELS__EMAIL__USERNAME": SUPPORT,
        "BRIDGE_CHANNELS__EMAIL__PASSWORD": PASSWORD,
        "BRIDGE_CHANNELS__EMAIL__SMTP_HOST": "127.0.0.1",
        "BRIDGE_CHANNELS__EMAIL__SMTP_PORT": str(sink.port),
        "BRIDGE_CHANNELS__EMAIL__SMTP_SECURITY": "none",
        "BRIDGE_CHANNELS__EMAIL__FROM_ADDRESS": SUPPORT,
        "BRIDGE_CHANNELS__EMAIL__MAX_AUTO_PER_SENDER_PER_DAY": "1000",
    }
    try:
        # The bridge process is started from a thread: its readiness wait blocks, and the
        # SMTP server in this loop must keep answering meanwhile.
        context = bridge_server(**env)
        server = await asyncio.to_thread(context.__enter__)
        try:
            token = (
                (
                    await asyncio.to_thread(
                        server.cli, "agent", "add", "Bench Agent", "--email", "agent@example.com"
                    )
                )
                .strip()
                .splitlines()[-1]
            )
            arrived: dict[str, float] = {}
            changed = asyncio.Event()
            events = f"{server.base_url}/api/events?kinds=message.added"
            async with aiohttp.ClientSession() as http:
                reader = asyncio.create_task(follow(http, events, token, arrived, changed))
                await asyncio.sleep(0.5)  # the stream is open
                sent: dict[str, float] = {}

                async def send(number: int) -> None:
                    message_id, message = mail(number, args.customers)
                    sent[message_id] = time.monotonic()
                    await aiosmtplib.send(message, hostname="127.0.0.1", port=sink.port)

                # Warm-up: the first mail pays for connections and caches.
                await send(-1)
                if not await until(lambda: len(arrived) >= 1, changed, 30):
                    raise RuntimeError("the warm-up mail never reached the agents")
                arrived.clear()
                sent.clear()
                started = time.monotonic()
                tasks = []
                for number in range(args.messages):
                    delay = started + number / args.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(send(number)))
                await asyncio.gather(*tasks)
                await until(lambda: not set(sent) - set(arrived), changed, 30)
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        finally:
            await asyncio.to_thread(context.__exit__, None, None, None)
    finally:
        await sink.stop()
        dovecot.stop()
    latencies = [arrived[m] - t for m, t in sent.items() if m in arrived]
    stats = percentiles(latencies)
    emit(
        {
            "bench": "email_latency",
            "machine": machine(),
            "messages": args.messages,
            "rate_per_second": args.rate,
            "arrived": len(latencies),
            "lost": len(sent) - len(latencies),
            "latency_ms": stats,
            "ok": len(latencies) == len(sent) and stats.get("p99", 1e9) < 2000,
            "target_p99_ms": 2000,
        }
    )


if __name__ == "__main__":
    run(main)
