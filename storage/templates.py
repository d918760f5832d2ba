"""Canned responses (templates) for the inbox's composer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from bridge.errors import Conflict
from bridge.ports import CannedResponse
from storage.database import Database
from storage.rows import Row
from storage.tables import templates


def _template(row: Row) -> CannedResponse:
    return CannedResponse(
        id=row["id"],
        name=row["name"],
        body=row["body"],
        checklist=tuple(str(item) for item in row["checklist"] or ()),
        language=row["language"],
        team=row["team"],
        created_at=row["created_at"],
    )


class SqlTemplates:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def list_templates(self) -> list[CannedResponse]:
        query = select(templates).order_by(templates.c.name)
        return await self._db.run_read(
            lambda c: [_template(r) for r in c.execute(query).mappings()]
        )

    async def add_template(
        self,
        *,
        name: str,
        body: str,
        checklist: Sequence[str],
        language: str | None,
        team: str | None,
        now: datetime,
    ) -> CannedResponse:
        values = {
            "name": name,
            "body": body,
            "checklist": list(checklist) or None,
            "language": language,
            "team": team,
            "created_at": now,
        }
        try:
            row = await self._db.run_write(
                lambda c: (
                    c.execute(insert(templates).returning(*templates.c), values).mappings().one()
                )
            )
        except IntegrityError as error:
            raise Conflict(f"a template named {name!r} exists") from error
        return _template(row)
