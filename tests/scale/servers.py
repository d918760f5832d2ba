"""Private Redis and PostgreSQL servers that a test may stop and start again.

The machine's shared servers (Redis on 6379, PostgreSQL on 5432) serve every other test, so
outage tests never touch them: each starts its own server on a free port in a temporary
folder, kills it by its pid and starts it again on the same port with the same data.

PostgreSQL refuses to run as root: when the tests run as root (CI does), the cluster folder
belongs to the ``postgres`` user and ``initdb`` and ``postgres`` run as that user.
When a binary is missing these tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.databases import unavailable

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PG_BIN = Path(os.environ.get("BRIDGE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class RedisServer:
    """``redis-server`` without persistence: a restart comes back empty, the hard case (a
    Redis that kept its data loses only what it had not written yet)."""

    def __init__(self) -> None:
        if not os.path.exists(REDIS_SERVER):
            unavailable("redis-server", FileNotFoundError(REDIS_SERVER))
        self.folder = Path(tempfile.mkdtemp(prefix="redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_until(lambda: _listening(self.port), self.process, "redis-server")
        return self

    def kill(self) -> None:
        """SIGKILL: Redis dies as in a crash; clients see their connections reset."""
        _stop(self.process, signal.SIGKILL)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


class PostgresCluster:
    """A throwaway PostgreSQL cluster of its own (``initdb``, trust authentication)."""

    def __init__(self) -> None:
        for binary in ("initdb", "postgres"):
            if not (PG_BIN / binary).exists():
                unavailable("PostgreSQL server binaries", FileNotFoundError(PG_BIN / binary))
        self.folder = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            **self._as,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresCluster:
        command = [
            str(PG_BIN / "postgres"),
            "-D", str(self.data),
            "-p", str(self.port),
            "-k", str(self.folder),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._as
        )
        _wait_until(self._accepting, self.process, "postgres")
        return self

    def _accepting(self) -> bool:
        result = subprocess.run(
            [
                str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1",
            ],
            capture_output=True,
            check=False,
        )  # fmt: skip
        return result.returncode == 0

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are ended, in-flight transactions rolled back,
        as when the server is restarted for maintenance."""
        _stop(self.process, signal.SIGINT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _wait_until(check: Any, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)
