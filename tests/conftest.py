from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.clock import ManualClock
from storage.migrate import upgrade
from storage.store import Storage
from storage.tables import metadata
from tests.databases import PostgresServer

# The mail servers, for the email channel's tests and the SMTP outage test alike.
pytest_plugins = ["tests.email.fixtures"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.drop_all()


def migrated(url: str) -> str:
    """``url``'s database brought to the current schema."""
    import asyncio

    async def migrate() -> None:
        storage = Storage.open(url)
        try:
            await upgrade(storage.database)
        finally:
            await storage.close()

    asyncio.run(migrate())
    return url


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """One migrated database for the session; tests truncate it before use."""
    return migrated(postgres_server.new_database())


@pytest.fixture
def fresh_postgres(postgres_server: PostgresServer) -> str:
    """A migrated database of its own, for tests whose processes share it over time (the
    session's shared one is rewound by other tests)."""
    return migrated(postgres_server.new_database())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/bridge.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """A migrated, empty store on each database the contract runs against."""
    store = Storage.open(database_url)
    if store.database.is_sqlite:
        await upgrade(store.database)
    else:
        names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
        await store.database.run_write(
            lambda connection: connection.execute(
                text(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            )
        )
    yield store
    await store.close()


REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis (database 15); skips locally when it is down, fails under CI."""
    from redis import Redis
    from redis.exceptions import RedisError

    from tests.databases import unavailable

    client = Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except (RedisError, OSError) as error:
        unavailable("Redis at 127.0.0.1:6379", error)
    finally:
        client.close()
    return REDIS_URL
