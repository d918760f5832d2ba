"""Engines and transactions for SQLite and PostgreSQL.

SQLite allows one writer at a time. Rather than let writers collide and spin on
``database is locked``, this process funnels every write through one connection under an
asyncio lock and starts it with ``BEGIN IMMEDIATE`` (so a second process, such as
``bridge agent add``, waits on ``busy_timeout`` instead of failing mid-transaction). Reads use
their own connections and, thanks to WAL, never wait for the writer.

PostgreSQL needs none of that: one pooled engine, ``READ COMMITTED``, and row locks where it
matters (``FOR UPDATE SKIP LOCKED`` in the outbox).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

log = logging.getLogger(__name__)


class Database:
    """The connection to the store; constructing one does no I/O."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "NORMAL",
        pool_size: int = 10,
        echo: bool = False,
    ) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            self._prepare_sqlite_folder()
            self.write_engine = self._sqlite_engine(sqlite_synchronous, immediate=True, size=1)
            self.read_engine = self._sqlite_engine(sqlite_synchronous, immediate=False, size=4)
        else:
            engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                echo=echo,
                pool_pre_ping=True,
            )
            self.write_engine = self.read_engine = engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _prepare_sqlite_folder(self) -> None:
        database = self.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    def _sqlite_engine(self, synchronous: str, *, immediate: bool, size: int) -> AsyncEngine:
        engine = create_async_engine(
            self.url, poolclass=AsyncAdaptedQueuePool, pool_size=size, max_overflow=0
        )

        # Take transaction control away from the sqlite3 module (which would BEGIN lazily and
        # DEFERRED) and issue our own BEGIN; recipe from SQLAlchemy's SQLite dialect docs.
        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        if self.is_sqlite:
            async with self._write_lock, self.write_engine.begin() as connection:
                yield connection
        else:
            async with self.write_engine.begin() as connection:
                yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (a consistent snapshot on both databases)."""
        async with self.read_engine.begin() as connection:
            yield connection

    async def ping(self) -> None:
        async with self.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
