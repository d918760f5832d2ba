"""Shared pieces of the Slack benchmarks: the fake Slack Web API in a process of its own,
the bridge configured for it, and signed event requests.

Three processes: the bridge (``bridge serve``), the fake Web API it talks to
(``tests/slack/fake_web_api.py``), and the benchmark itself, which plays Slack sending events
and reads the fake's record of what the bridge posted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.common import ROOT, free_port
from tests.slack.fake_web_api import BOT_TOKEN
from tests.slack.signing import SIGNING_SECRET

SUPPORT = "C0SUPPORT"


@dataclass
class Fake:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_fake/stats", timeout=10) as response:
            data: dict[str, Any] = json.load(response)
            return data


@contextmanager
def fake_slack(*, limit: bool, users: int = 0, channels: str = SUPPORT) -> Iterator[Fake]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "tests.slack.fake_web_api",
        "--port",
        str(port),
        "--channels",
        channels,
        "--users",
        str(users),
    ]
    if limit:
        args.append("--limit")
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError("the fake Slack did not start")
        yield Fake(process, f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def slack_env(fake: Fake, **extra: str) -> dict[str, str]:
    """``bridge serve`` settings (environment) pointing the Slack channel at the fake."""
    return {
        "BRIDGE_CHANNELS__SLACK__BOT_TOKEN": BOT_TOKEN,
        "BRIDGE_CHANNELS__SLACK__SIGNING_SECRET": SIGNING_SECRET,
        "BRIDGE_CHANNELS__SLACK__API_URL": fake.base_url,
        "BRIDGE_CHANNELS__SLACK__SUPPORT_CHANNEL": SUPPORT,
        "BRIDGE_CHANNELS__SLACK__HOLD_SECONDS": "0",
        "BRIDGE_CHANNELS__SLACK__ALERT_QUEUE_LENGTH": "0",
        "BRIDGE_CHANNELS__SLACK__ALERT_OLDEST_WAIT": "0",
        **extra,
    }


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)
