"""Fixtures: a Dovecot IMAP server and an SMTP sink delivering into it, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.email.servers import Dovecot, SmtpSink


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def smtp(dovecot: Dovecot) -> AsyncIterator[SmtpSink]:
    """SMTP on loopback that delivers into the Dovecot maildirs and records everything."""
    sink = await SmtpSink(dovecot).start()
    yield sink
    await sink.stop()
