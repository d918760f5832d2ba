"""The outbox: claiming due deliveries under a lease and recording what happened to them.

Per-conversation order is kept by handing out only the oldest pending delivery of each
conversation; the next one becomes claimable once that one is sent or given up. On PostgreSQL
the claim locks rows with ``FOR UPDATE SKIP LOCKED`` so several processes share the work
without waiting on each other; the lease covers the time between claim and outcome, and lets
another process take over when the holder dies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.expression import Exists

from bridge.model import Delivery, DeliveryState
from bridge.ports import Claimed, SendOutcome
from storage import rows
from storage.database import Database
from storage.tables import deliveries, messages

PENDING = DeliveryState.PENDING.value
_earlier = aliased(deliveries)
_original = aliased(deliveries)  # the delivery an edit changes
_answered = aliased(messages)  # the customer message a reply answers


def _earlier_pending() -> Exists:
    """True for a delivery queued behind an older pending one of its conversation."""
    return exists().where(
        _earlier.c.conversation_id == deliveries.c.conversation_id,
        _earlier.c.state == PENDING,
        _earlier.c.id < deliveries.c.id,
    )


# Built once: SQLAlchemy caches a statement's compiled form by a key it derives from the
# statement object, and deriving it for a fresh one on every claim cost as much as the claim.
_CLAIMABLE = (
    select(
        deliveries,
        *(c.label(f"m_{c.name}") for c in messages.c),
        _original.c.external_id.label("x_edit_of_external_id"),
        _answered.c.source.label("x_reply_source"),
        _answered.c.external_id.label("x_reply_external_id"),
    )
    .join(messages, messages.c.id == deliveries.c.message_id)
    .outerjoin(_original, _original.c.id == deliveries.c.edit_of)
    .outerjoin(_answered, _answered.c.id == messages.c.reply_to_id)
    .where(
        deliveries.c.state == PENDING,
        deliveries.c.next_attempt_at <= bindparam("now"),
        or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < bindparam("now")),
        ~_earlier_pending(),
    )
    .order_by(deliveries.c.id)
    .limit(bindparam("limit"))
)
_CLAIMABLE_LOCKING = _CLAIMABLE.with_for_update(skip_locked=True, of=deliveries)
_LEASE = (
    update(deliveries)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(lease_owner=bindparam("owner"), lease_until=bindparam("until"))
)


class SqlOutbox:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Claimed]:
        if limit <= 0:
            return []
        query = _CLAIMABLE if self._db.is_sqlite else _CLAIMABLE_LOCKING
        values = {"now": now, "limit": limit}

        def work(connection: Connection) -> list[RowMapping]:
            found = list(connection.execute(query, values).mappings())
            if found:
                connection.execute(
                    _LEASE,
                    {"ids": [r["id"] for r in found], "owner": owner, "until": now + lease},
                )
            return found

        found = await self._db.run_write(work)
        claimed = []
        for row in found:
            message = rows.message({c.name: row[f"m_{c.name}"] for c in messages.c})
            delivery = rows.delivery(row)
            # Quote the answered message only where the platform knows it: its own channel.
            same_channel = row["x_reply_source"] == delivery.destination.source
            claimed.append(
                Claimed(
                    delivery,
                    message,
                    reply_to_external_id=row["x_reply_external_id"] if same_channel else None,
                    edit_of_external_id=row["x_edit_of_external_id"],
                )
            )
        return claimed

    async def hurry(self, source: str, now: datetime) -> int:
        channel, _, account = source.partition(":")
        statement = (
            update(deliveries)
            .where(
                deliveries.c.state == PENDING,
                deliveries.c.channel == channel,
                deliveries.c.account == account,
                deliveries.c.attempts > 0,
                deliveries.c.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
        )
        result = await self._db.run_write(lambda c: c.execute(statement))
        return int(result.rowcount or 0)

    async def fail_by_external(
        self, source: str, external_id: str, reason: str, now: datetime
    ) -> Delivery | None:
        channel, _, account = source.partition(":")

        def work(connection: Connection) -> Delivery | None:
            row = (
                connection.execute(
                    select(deliveries).where(
                        deliveries.c.channel == channel,
                        deliveries.c.account == account,
                        deliveries.c.external_id == external_id,
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id == row["id"])
                .values(state=DeliveryState.FAILED.value, last_error=reason, updated_at=now)
            )
            fresh = connection.execute(select(deliveries).where(deliveries.c.id == row["id"]))
            return rows.delivery(fresh.mappings().one())

        return await self._db.run_write(work)

    async def record(self, outcomes: Sequence[SendOutcome], now: datetime) -> None:
        if not outcomes:
            return
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for outcome in outcomes:
            groups[outcome.state].append(
                {
                    "b_id": outcome.delivery_id,
                    "b_attempts": outcome.attempts,
                    "b_external_id": outcome.external_id,
                    "b_error": outcome.error,
                    "b_next": outcome.next_attempt_at or now,
                }
            )
        statements: list[tuple[Update, list[dict[str, Any]]]] = []
        for state, params in groups.items():
            values: dict[str, Any] = {
                "attempts": bindparam("b_attempts"),
                "lease_owner": None,
                "lease_until": None,
                "updated_at": now,
                "last_error": bindparam("b_error"),
            }
            if state == "sent":
                values |= {
                    "state": DeliveryState.SENT.value,
                    "external_id": bindparam("b_external_id"),
                    "sent_at": now,
                }
            elif state == "retry":
                values |= {"state": PENDING, "next_attempt_at": bindparam("b_next")}
            else:
                values |= {"state": DeliveryState(state).value}
            statement = (
                update(deliveries)
                .where(and_(deliveries.c.id == bindparam("b_id"), deliveries.c.state == PENDING))
                .values(values)
            )
            statements.append((statement, params))

        def work(connection: Connection) -> None:
            for statement, params in statements:
                connection.execute(statement, params)

        await self._db.run_write(work)

    async def release(self, delivery_ids: Sequence[int], owner: str) -> None:
        if not delivery_ids:
            return
        statement = (
            update(deliveries)
            .where(
                deliveries.c.id.in_(list(delivery_ids)),
                deliveries.c.lease_owner == owner,
                deliveries.c.state == PENDING,
            )
            .values(lease_owner=None, lease_until=None)
        )
        await self._db.run_write(lambda c: c.execute(statement))

    async def next_due_at(self) -> datetime | None:
        query = select(func.min(deliveries.c.next_attempt_at)).where(
            deliveries.c.state == PENDING, ~_earlier_pending()
        )
        value = await self._db.run_read(lambda c: c.scalar(query))
        if value is None:
            return None
        # Aggregates bypass the column type on SQLite; normalise like the type would.
        return rows.as_utc(value)

    async def pending_count(self, now: datetime, owner: str) -> int:
        query = select(func.count()).where(
            deliveries.c.state == PENDING,
            deliveries.c.next_attempt_at <= now,
            ~_earlier_pending(),
            or_(
                deliveries.c.lease_until.is_(None),
                deliveries.c.lease_until < now,
                deliveries.c.lease_owner == owner,
            ),
        )
        value = await self._db.run_read(lambda c: c.scalar(query))
        return int(value or 0)
