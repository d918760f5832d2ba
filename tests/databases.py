"""Test databases: a SQLite file per test, and one PostgreSQL database per test session.

PostgreSQL is the server on this machine (``BRIDGE_TEST_POSTGRES`` overrides the admin URL).
When it cannot be reached the PostgreSQL cases skip locally, and fail under ``CI=true``: CI
must prove the PostgreSQL path, not quietly pass without it.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest

ADMIN_URL = os.environ.get("BRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(service: str, error: BaseException) -> None:
    message = f"{service} is not reachable: {error!r}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: these tests must run, not skip)", pytrace=False)
    pytest.skip(message)


async def _create(name: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop(name: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class PostgresServer:
    """Creates throwaway databases on the PostgreSQL server and drops them at the end."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.error: BaseException | None = None

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        if self.error is not None:
            unavailable("PostgreSQL", self.error)
        name = f"bridge_test_{uuid.uuid4().hex[:12]}"
        try:
            asyncio.run(_create(name))
        except (OSError, asyncpg.PostgresError) as error:
            self.error = error
            unavailable("PostgreSQL", error)
        self.created.append(name)
        base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{name}"

    def drop_all(self) -> None:
        for name in self.created:
            asyncio.run(_drop(name))
        self.created.clear()
