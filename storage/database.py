"""Engines and transactions for SQLite and PostgreSQL.

Repositories write each transaction as one synchronous function over a SQLAlchemy Core
``Connection`` and hand it to :meth:`Database.run_write` or :meth:`Database.run_read`:

* SQLite: the function runs in a thread of this process (the standard ``sqlite3`` module),
  so a whole transaction costs one hop between the event loop and a thread. Driving SQLite
  statement by statement through aiosqlite costs about four hops per statement (cursor,
  execute, fetch, close), which measured as a fixed 6-8 ms per ingest transaction; in one
  thread the same transaction takes about 1 ms. SQLite allows one writer at a time, so all
  writes go through ONE thread in order, each starting with ``BEGIN IMMEDIATE`` (a second
  process such as ``bridge agent add`` waits on ``busy_timeout`` instead of failing midway).
  Reads run on a few other threads and, thanks to WAL, never wait for the writer.
* PostgreSQL: the same function runs on asyncpg through SQLAlchemy's ``run_sync`` (a
  greenlet, no thread), with a connection pool; row locks where it matters
  (``FOR UPDATE SKIP LOCKED`` in the outbox).

When the database cannot be reached (it restarts, the network is down) a transaction raises
:class:`bridge.errors.StorageUnavailable`, which every caller understands as "nothing was
stored, try again": a 503, an error frame to the visitor, a job retried later. The pool then
reconnects by itself: a restart ends every session, asyncpg notices each closed socket at once,
and a connection found closed at checkout is replaced before use (no round trip, unlike
``pool_pre_ping``, which measured +50% on a small transaction here). A connection that died
silently fails its first statement instead; SQLAlchemy then renews the whole pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from bridge.errors import StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
READ_THREADS = 4
AUTOCHECKPOINT_PAGES = 20_000  # ~80 MB of WAL


class Database:
    """The connection to the store; constructing one does no I/O."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "NORMAL",
        pool_size: int = 10,
    ) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        self._async_engine: AsyncEngine | None = None
        self._write_engine: Engine | None = None
        self._read_engine: Engine | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            self._prepare_sqlite_folder()
            sync_url = self.url.set(drivername="sqlite")
            self._write_engine = _sqlite_engine(sync_url, sqlite_synchronous, "IMMEDIATE", 1)
            self._read_engine = _sqlite_engine(sync_url, sqlite_synchronous, "", READ_THREADS)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
            self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="sqlite-reader")
        else:
            self._async_engine = create_async_engine(
                self.url.set(drivername="postgresql+asyncpg"),
                pool_size=pool_size,
                max_overflow=pool_size,
                # No pre-ping: it is a round trip on every transaction. Connections a restart
                # closed are dropped at checkout instead (see the module's docstring).
                pool_recycle=1800,
                # Errors quote statements; their parameters are message bodies and addresses.
                hide_parameters=True,
            )
            event.listen(self._async_engine.sync_engine, "checkout", _drop_closed)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _prepare_sqlite_folder(self) -> None:
        database = self.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction: committed if it returns, rolled back if it
        raises. :class:`StorageUnavailable` when the database cannot be reached."""
        try:
            if self._async_engine is not None:
                async with self._async_engine.begin() as connection:
                    return await connection.run_sync(work)
            assert self._write_engine is not None
            engine = self._write_engine
            return await self._in_thread(self._writer, lambda: _transaction(engine, work))
        except Exception as error:
            unavailable = _unavailable(error)
            if unavailable is None:
                raise
            raise unavailable from error

    async def run_read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a read-only transaction (one consistent snapshot)."""
        try:
            if self._async_engine is not None:
                async with self._async_engine.connect() as connection:
                    return await connection.run_sync(work)
            assert self._read_engine is not None
            engine = self._read_engine
            return await self._in_thread(self._readers, lambda: _transaction(engine, work))
        except Exception as error:
            unavailable = _unavailable(error)
            if unavailable is None:
                raise
            raise unavailable from error

    @staticmethod
    async def _in_thread(executor: ThreadPoolExecutor | None, call: Callable[[], T]) -> T:
        if executor is None:
            raise RuntimeError("the database is closed")
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def checkpoint(self) -> None:
        """Copy the SQLite write-ahead log back into the database without blocking writers
        (a no-op on PostgreSQL). Run every few seconds by the runtime."""
        if self._read_engine is not None and self.is_sqlite:
            engine = self._read_engine
            await self._in_thread(self._readers, lambda: _checkpoint(engine))

    async def ping(self) -> None:
        await self.run_read(lambda connection: connection.execute(text("SELECT 1")).scalar())

    async def dispose(self) -> None:
        if self._async_engine is not None:
            await self._async_engine.dispose()
        for executor in (self._writer, self._readers):
            if executor is not None:
                executor.shutdown(wait=True)
        self._writer = self._readers = None
        for engine in (self._write_engine, self._read_engine):
            if engine is not None:
                engine.dispose()


#: SQLSTATE classes of a server that cannot serve now: connection exceptions (08) and
#: operator intervention (57: shutting down, starting up, sessions terminated).
_UNAVAILABLE_STATES = ("08", "57")


def _unavailable(error: Exception) -> StorageUnavailable | None:
    """``error`` as :class:`StorageUnavailable` when it means the database cannot be
    reached (whatever the query); None for any other error, which callers see unchanged."""
    if isinstance(error, StorageUnavailable):
        return None
    reachable = True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        reachable = False
    seen: BaseException | None = error
    for _ in range(5):  # the error, SQLAlchemy's wrapper, the driver's: never a long chain
        if seen is None or not reachable:
            break
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(seen, OSError) or (
            isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES)
        ):
            reachable = False
        seen = seen.__cause__ or getattr(seen, "orig", None)
    if reachable:
        return None
    return StorageUnavailable(f"the database cannot be reached: {type(error).__name__}")


def _drop_closed(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Refuse a pooled connection the server has closed: the pool then opens a new one."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the database closed this connection")


def _checkpoint(engine: Engine) -> None:
    # Outside any transaction (the connection is in autocommit): a checkpoint run inside one
    # could not pass that transaction's own snapshot.
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cursor.fetchall()
        cursor.close()
    finally:
        raw.close()


def _transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as connection:
        return work(connection)


def _sqlite_engine(url: URL, synchronous: str, begin: str, size: int) -> Engine:
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=size,
        max_overflow=0,
        # Connections live in the executor's threads, not the thread that made them.
        connect_args={"check_same_thread": False},
        hide_parameters=True,
    )

    # Take transaction control away from the sqlite3 module (which would BEGIN lazily, as
    # DEFERRED) and issue our own BEGIN; the recipe of SQLAlchemy's SQLite dialect docs.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        # The writer would checkpoint every 1,000 pages inside a commit, a 10 ms stall every
        # ~120 transactions under load. :meth:`Database.checkpoint` copies the WAL back from a
        # reader thread instead (PASSIVE: it never blocks the writer); this larger threshold
        # only matters if that stops running.
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(f"BEGIN {begin}".strip())

    return engine
