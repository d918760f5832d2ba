"""Which deliveries wait, and why: the inbox's banner, ``GET /api/deliveries/waiting`` and
the channels' lines on ``/readyz``.

A pending delivery *waits* when its channel failed it (it was tried and given back with an
error) or when it queues behind such a delivery in its conversation (the outbox keeps each
conversation's order, so nothing behind a failing reply goes out before it). A delivery due
for longer than ``overdue_after`` also waits, failure or not: no dispatcher got to it.

The store, not a process's memory, answers, so every process tells the same story and it
survives restarts. Pending rows are few in normal operation and indexed by state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from bridge.model import DeliveryState, ThreadRef
from bridge.ports import WaitingDeliveries, WaitingDelivery, WaitingDestination
from storage import rows
from storage.database import Database
from storage.tables import deliveries

PENDING = DeliveryState.PENDING.value
#: Conversations named per destination (the banner links them; more would not fit).
CONVERSATIONS_SHOWN = 20

_head = aliased(deliveries)  # the oldest pending delivery of the conversation
_other = aliased(deliveries)


def _waiting(now: datetime, overdue_after: timedelta) -> Select[Any]:
    head_id = (
        select(func.min(_other.c.id))
        .where(_other.c.conversation_id == deliveries.c.conversation_id, _other.c.state == PENDING)
        .scalar_subquery()
    )
    return (
        select(
            deliveries.c.id,
            deliveries.c.message_id,
            deliveries.c.conversation_id,
            deliveries.c.channel,
            deliveries.c.account,
            deliveries.c.thread_key,
            deliveries.c.attempts,
            deliveries.c.next_attempt_at,
            deliveries.c.created_at,
            _head.c.last_error.label("reason"),
            _head.c.next_attempt_at.label("head_next"),
        )
        .select_from(deliveries)
        .join(_head, _head.c.id == head_id)
        .where(
            deliveries.c.state == PENDING,
            or_(
                _head.c.last_error.is_not(None),
                deliveries.c.next_attempt_at <= now - overdue_after,
            ),
        )
    )


class SqlDeliveryStatus:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def waiting(
        self, now: datetime, *, overdue_after: timedelta, limit: int
    ) -> WaitingDeliveries:
        waiting = _waiting(now, overdue_after).subquery()
        w = waiting.c
        per_destination = (
            select(w.channel, w.account, func.count(), func.min(w.created_at))
            .group_by(w.channel, w.account)
            .order_by(w.channel, w.account)
        )
        failing = (
            select(w.channel, w.account, func.min(w.head_next))
            .where(w.reason.is_not(None))
            .group_by(w.channel, w.account)
        )
        conversations = (
            select(w.channel, w.account, w.conversation_id, func.min(w.id).label("first"))
            .group_by(w.channel, w.account, w.conversation_id)
            .order_by("first")
        )
        items = select(waiting).order_by(w.id).limit(max(0, limit))

        def work(connection: Connection) -> WaitingDeliveries:
            counts = connection.execute(per_destination).all()
            if not counts:
                return WaitingDeliveries(0, (), ())
            failures = {(r[0], r[1]): (r[2],) for r in connection.execute(failing).all()}
            named: dict[tuple[str, str], list[int]] = {}
            for row in connection.execute(conversations):
                shown = named.setdefault((row[0], row[1]), [])
                if len(shown) < CONVERSATIONS_SHOWN:
                    shown.append(int(row[2]))
            destinations = []
            for channel, account, count, oldest in counts:
                failed = failures.get((channel, account))
                next_at = failed[0] if failed is not None else None
                destinations.append(
                    WaitingDestination(
                        channel=channel,
                        account=account,
                        count=int(count),
                        reason=_latest_reason(connection, channel, account) if failed else None,
                        next_attempt_at=rows.as_utc(next_at) if next_at is not None else None,
                        oldest_created_at=rows.as_utc(oldest),
                        conversation_ids=tuple(named.get((channel, account), ())),
                    )
                )
            found = tuple(
                WaitingDelivery(
                    delivery_id=r["id"],
                    message_id=r["message_id"],
                    conversation_id=r["conversation_id"],
                    destination=ThreadRef(r["channel"], r["account"], r["thread_key"]),
                    attempts=r["attempts"],
                    reason=r["reason"],
                    next_attempt_at=r["next_attempt_at"],
                    created_at=r["created_at"],
                )
                for r in connection.execute(items).mappings()
            )
            return WaitingDeliveries(sum(d.count for d in destinations), tuple(destinations), found)

        return await self._db.run_read(work)


def _latest_reason(connection: Connection, channel: str, account: str) -> str | None:
    """The error of the destination's most recently failed pending delivery."""
    query = (
        select(deliveries.c.last_error)
        .where(
            and_(
                deliveries.c.state == PENDING,
                deliveries.c.channel == channel,
                deliveries.c.account == account,
                deliveries.c.last_error.is_not(None),
            )
        )
        .order_by(deliveries.c.updated_at.desc(), deliveries.c.id.desc())
        .limit(1)
    )
    reason: str | None = connection.execute(query).scalar()
    return reason
