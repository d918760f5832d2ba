"""Shared pieces of the benchmarks: a bridge in its own process, percentiles, JSON output."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    folder: Path
    env: dict[str, str]

    @property
    def database(self) -> Path:
        return self.folder / "var" / "bridge.db"

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout


@contextmanager
def bridge_server(**settings: str) -> Iterator[Server]:
    """``bridge serve`` on SQLite in a temporary folder, in a separate process."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as folder:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BRIDGE_SERVER__PORT": str(port),
            "BRIDGE_LOGGING__LEVEL": "WARNING",
            "BRIDGE_CHANNELS__WEBCHAT__RATE_LIMIT_PER_MINUTE": "0",
            **settings,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve"],
            cwd=folder,
            env=env,
        )
        server = Server(process, f"http://127.0.0.1:{port}", Path(folder), env)
        try:
            wait_ready(server)
            yield server
        finally:
            process.terminate()
            process.wait(timeout=60)


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(server.base_url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the bridge did not start")
        time.sleep(0.1)


async def new_session(http: aiohttp.ClientSession, base_url: str, name: str) -> str:
    async with http.post(f"{base_url}/webchat/sessions", json={"name": name}) as response:
        response.raise_for_status()
        return str((await response.json())["token"])


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)}


def emit(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}


def run(main: Any) -> None:
    asyncio.run(main())
