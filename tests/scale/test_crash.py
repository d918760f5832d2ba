"""Crash proof, in small: two bridge processes on PostgreSQL and Redis under web chat and
agent load, one killed with SIGKILL and restarted a few times. Nothing acknowledged is lost
or stored twice, every accepted reply is delivered exactly once, and no note is delivered.
(bench/crash.py runs the same with twenty kills.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.databases import PostgresServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.crash import crash_run

pytestmark = pytest.mark.postgres


@pytest.mark.timeout(180)
async def test_killed_processes_lose_nothing_and_repeat_nothing(
    postgres_server: PostgresServer, redis_url: str
) -> None:
    del postgres_server, redis_url  # both must be reachable (fail, not skip, under CI)
    result = await crash_run(kills=3, every=1.5, visitors=4)
    assert result["acknowledged_customer_messages"] > 0
    assert result["replies_accepted"] > 0
    assert result["customer_messages_lost"] == 0, result["examples"]
    assert result["customer_messages_stored_twice"] == 0, result["examples"]
    assert result["replies_not_exactly_once_sent"] == 0, result["examples"]
    assert result["notes_with_deliveries"] == 0
