"""What channels keep between restarts: read cursors and key-value links."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.database import Database
from storage.tables import channel_cursors, channel_links

# SQLite limits bound parameters per statement; look keys up in chunks well below it.
_CHUNK = 500


def _upsert(dialect: str, table: Any, keys: list[Any], changing: list[str]) -> Any:
    statement = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in changing}
    )


class SqlCursors:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._upsert = _upsert(
            database.dialect,
            channel_cursors,
            [channel_cursors.c.source, channel_cursors.c.name],
            ["value", "updated_at"],
        )

    async def get_cursor(self, source: str, name: str) -> str | None:
        query = select(channel_cursors.c.value).where(
            channel_cursors.c.source == source, channel_cursors.c.name == name
        )
        value = await self._db.run_read(lambda c: c.execute(query).scalar())
        return None if value is None else str(value)

    async def set_cursor(self, source: str, name: str, value: str, now: datetime) -> None:
        row = {"source": source, "name": name, "value": value, "updated_at": now}
        await self._db.run_write(lambda c: c.execute(self._upsert, row))


class SqlLinks:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._upsert = _upsert(
            database.dialect,
            channel_links,
            [channel_links.c.source, channel_links.c.kind, channel_links.c.key],
            ["value"],
        )

    async def put_links(
        self, source: str, kind: str, pairs: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        if not pairs:
            return
        latest = dict(pairs)  # one row per key: the last value given wins
        values = [
            {"source": source, "kind": kind, "key": k, "value": v, "created_at": now}
            for k, v in latest.items()
        ]
        await self._db.run_write(lambda c: c.execute(self._upsert, values))

    async def get_links(self, source: str, kind: str, keys: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}

        def work(connection: Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for start in range(0, len(wanted), _CHUNK):
                query = select(channel_links.c.key, channel_links.c.value).where(
                    channel_links.c.source == source,
                    channel_links.c.kind == kind,
                    channel_links.c.key.in_(wanted[start : start + _CHUNK]),
                )
                found.update({row.key: row.value for row in connection.execute(query)})
            return found

        return await self._db.run_read(work)
