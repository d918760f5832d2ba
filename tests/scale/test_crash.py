"""Crash proof, in small: two bridge processes on PostgreSQL and Redis under web chat,
Telegram and Slack load, one killed with SIGKILL and restarted a few times. Nothing
acknowledged is lost or stored twice, every accepted reply and acknowledgement reaches the
customer exactly once, and no note is delivered or seen. (bench/crash.py runs the same with
twenty kills.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.databases import PostgresServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.crash import crash_run

pytestmark = pytest.mark.postgres

CHANNELS = ("webchat", "telegram", "slack")


@pytest.mark.timeout(180)  # about a minute on a quiet machine; starting a process is slow
async def test_killed_processes_lose_nothing_and_repeat_nothing(
    postgres_server: PostgresServer, redis_url: str
) -> None:
    del postgres_server, redis_url  # both must be reachable (fail, not skip, under CI)
    # A short lease: a delivery a killed process had claimed goes out within seconds, not
    # after the minute a deployment waits, so the drain at the end stays short.
    result = await crash_run(kills=3, every=1.5, visitors=3, telegram=3, slack=3, lease=10)
    examples = {c: result[c] for c in CHANNELS} | {"examples": result["examples"]}
    for channel in CHANNELS:
        figures = result[channel]
        assert figures["acknowledged"] > 0, channel
        assert figures["replies_accepted"] > 0, channel
        assert figures["lost"] == 0, examples
        assert figures["stored_twice"] == 0, examples
        assert figures["replies_not_stored_once_with_one_sent_delivery"] == 0, examples
        assert figures["deliveries_not_sent"] == 0, examples
    for channel in ("telegram", "slack"):
        figures = result[channel]
        assert figures["replies_not_exactly_once_received"] == 0, examples
        assert figures["sent_not_received_exactly_once_by_key"] == 0, examples
        assert figures["received_without_key"] == 0, examples
        assert figures["received_under_unknown_key"] == 0, examples
    assert result["telegram"]["updates_not_confirmed"] == 0
    # Polling stopped for at most the 10 s DESIGN.md allows when its holder was killed.
    assert result["telegram"]["longest_poll_gap_seconds"] < 10
    assert result["notes"]["written"] > 0
    assert result["notes"]["with_deliveries"] == 0
    assert [result["notes"][f"seen_on_{c}"] for c in CHANNELS] == [0, 0, 0]
    assert result["ok"], result
