"""`bridge agent password`, `agent add --password-stdin` and `bridge queue [--watch]`, run as a
user runs them: separate processes on the default SQLite database under ./var/."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bridge.clock import SystemClock
from bridge.model import ThreadRef
from storage.store import Storage
from tests.factories import inbound
from web.passwords import Passwords

ENV = {"COLUMNS": "160", "NO_COLOR": "1", "TERM": "dumb"}


def bridge(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=cwd,
        env={**os.environ, **ENV},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored_password(folder: Path, email: str) -> str | None:
    async def read() -> str | None:
        storage = Storage.open(f"sqlite+aiosqlite:///{folder}/var/bridge.db")
        try:
            found = await storage.sessions.credentials(email)
            return found[1] if found else None
        finally:
            await storage.close()

    return asyncio.run(read())


def test_passwords_from_stdin_are_stored_hashed(tmp_path: Path) -> None:
    added = bridge(
        "agent",
        "add",
        "Ana Lima",
        "--email",
        "ana@example.com",
        "--password-stdin",
        cwd=tmp_path,
        stdin="a long enough secret\n",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().splitlines()[-1].startswith("brg_")
    first = stored_password(tmp_path, "ana@example.com")
    assert first is not None
    assert first.startswith("$argon2id$")
    assert Passwords().verify(first, "a long enough secret")
    changed = bridge(
        "agent", "password", "ana@example.com", cwd=tmp_path, stdin="another secret!\n"
    )
    assert changed.returncode == 0, changed.stderr
    assert Passwords().verify(stored_password(tmp_path, "ana@example.com"), "another secret!")
    short = bridge("agent", "password", "ana@example.com", cwd=tmp_path, stdin="short\n")
    assert short.returncode == 1
    assert "at least 10 characters" in short.stderr
    unknown = bridge("agent", "password", "nobody@example.com", cwd=tmp_path, stdin="x" * 12)
    assert unknown.returncode == 1
    assert "no agent" in unknown.stderr


def seed(folder: Path) -> None:
    async def run() -> None:
        storage = Storage.open(f"sqlite+aiosqlite:///{folder}/var/bridge.db")
        try:
            await storage.prepare(auto_migrate=True)
            from datetime import timedelta

            from bridge.ports import ConversationPolicy

            now = SystemClock().now()
            items = [
                inbound(
                    f"m{n}",
                    at=now - timedelta(minutes=10 - n),
                    thread=ThreadRef("webchat", "default", f"v{n}"),
                    sender_name=name,
                )
                for n, name in enumerate(["Ana Lima", "[bold red]Bruno[/] Costa"])
            ]
            await storage.ingest.ingest_batch(
                items, ConversationPolicy(reopen_window=timedelta(hours=1)), now
            )
        finally:
            await storage.close()

    asyncio.run(run())


def test_queue_prints_the_line_and_the_agents(tmp_path: Path) -> None:
    added = bridge("agent", "add", "Bea Santos", "--email", "bea@example.com", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    seed(tmp_path)
    shown = bridge("queue", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Queue: 2 waiting, oldest 10m" in out
    assert out.index("Ana Lima") < out.index("Costa")
    assert "[bold red]Bruno[/] Costa" in out  # a name is text, never markup
    assert "#1" in out
    assert "#2" in out
    assert "Bea Santos" in out
    assert "offline" in out
    assert "0/6" in out


def test_queue_watch_refreshes_in_place(tmp_path: Path) -> None:
    seed(tmp_path)
    shown = bridge("queue", "--watch", "--interval", "0.05", "--count", "3", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Queue: 2 waiting" in shown.stdout
