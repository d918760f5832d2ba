"""``bridge email import`` of a big mailbox from a local Dovecot, in messages per second.

A throwaway Dovecot (tests/email/servers.py) gets a maildir of ``--messages`` mails written
straight into ``cur/``: customers with threads of one to five mails (replies carry
In-Reply-To and References), plain and HTML mails, some with a small attachment, a few
auto-replies and bounces. The import runs into a fresh SQLite database; afterwards the
database is counted: every mail stored once, threads rebuilt, and no delivery queued to any
customer (an import must not send anything).

    .venv/bin/python bench/email_import.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, machine, run
from config.schema import Settings
from runtime.email import import_mailbox
from tests.email.servers import SUPPORT, Dovecot

START = datetime(2024, 1, 1, tzinfo=UTC)
WORDS = (
    *("order", "parcel", "invoice", "refund", "delivery", "account", "password", "login"),
    *("payment", "card", "address", "shipping", "tracking", "broken", "missing", "late"),
    *("wrong", "charge", "twice", "please", "help", "thanks", "today", "week", "number"),
    *("again", "still", "waiting", "answer"),
)


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def mailbox(count: int, seed: int = 7) -> tuple[list[bytes], int]:
    """``count`` raw mails and how many threads they form."""
    rng = random.Random(seed)
    mails: list[bytes] = []
    threads = 0
    when = START
    customer = 0
    while len(mails) < count:
        customer += 1
        threads += 1
        sender = f"customer{customer}@example.org"
        ids: list[str] = []
        subject = sentence(rng, 4)[:-1]
        for step in range(rng.randint(1, 5)):
            if len(mails) >= count:
                break
            when += timedelta(seconds=rng.randint(1, 120))
            mail = EmailMessage()
            mail["From"] = f"Customer {customer} <{sender}>"
            mail["To"] = SUPPORT
            mail["Subject"] = subject if step == 0 else f"Re: {subject}"
            mail["Date"] = format_datetime(when)
            message_id = f"m{len(mails)}.{customer}@example.org"
            mail["Message-ID"] = f"<{message_id}>"
            if ids:
                mail["In-Reply-To"] = f"<{ids[-1]}>"
                mail["References"] = " ".join(f"<{i}>" for i in ids)
            body = "\n\n".join(sentence(rng, rng.randint(8, 30)) for _ in range(rng.randint(1, 4)))
            if ids:
                body += "\n\nOn Monday, Support wrote:\n> " + sentence(rng, 20)
            if rng.random() < 0.03:
                mail["Auto-Submitted"] = "auto-replied"
            mail.set_content(body)
            if rng.random() < 0.3:
                mail.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
            if rng.random() < 0.05:
                mail.add_attachment(
                    rng.randbytes(2000), maintype="image", subtype="png", filename="photo.png"
                )
            mails.append(mail.as_bytes())
            ids.append(message_id)
    return mails, threads


def count(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        result = {}
        for table in ("messages", "conversations", "deliveries", "customers"):
            result[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    mails, threads = mailbox(args.messages)
    dovecot = Dovecot(users=(SUPPORT,)).start()
    try:
        started = time.monotonic()
        dovecot.fill(SUPPORT, mails)
        fill_seconds = time.monotonic() - started
        with tempfile.TemporaryDirectory(prefix="bridge-email-import-") as folder:
            database = Path(folder) / "bridge.db"
            settings = Settings(
                storage={
                    "database_url": f"sqlite+aiosqlite:///{database}",
                    "files_dir": f"{folder}/files",
                    "auto_migrate": True,
                },
                channels={
                    "webchat": {"enabled": False},
                    "email": dovecot.settings(smtp_host="127.0.0.1", smtp_port=1),
                },
            )
            started = time.monotonic()
            report = await import_mailbox(settings)
            seconds = time.monotonic() - started
            counted = count(database)
    finally:
        dovecot.stop()
    result: dict[str, Any] = {
        "bench": "email_import",
        "machine": machine(),
        "messages": args.messages,
        "threads_generated": threads,
        "maildir_fill_seconds": round(fill_seconds, 2),
        "import_seconds": round(seconds, 2),
        "messages_per_second": round(args.messages / seconds, 1),
        "report": {
            "stored": report.stored,
            "duplicates": report.duplicates,
            "skipped": report.skipped,
            "conversations_opened": report.threads,
        },
        "database": counted,
        "ok": (
            counted["messages"] == args.messages
            and counted["conversations"] == threads
            and counted["deliveries"] == 0
        ),
        "target_messages_per_second": 300,
    }
    emit(result)


if __name__ == "__main__":
    run(main)
