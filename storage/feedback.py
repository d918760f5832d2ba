"""What customers see and say outside the conversation: status page links (token hashes
only) and satisfaction ratings; and the history behind the supervisor's chart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, exists, false, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bridge.errors import NotFound
from bridge.model import ConversationStatus, DeliveryState, Message, Visibility
from bridge.ports import AgentLoad, OpenWait, Rating, WaitRecord
from storage import rows
from storage.database import Database
from storage.tables import agents, conversations, csat, deliveries, messages, status_links, waits


class SqlFeedback:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- status page links ----------------------------------------------------------------

    async def add_status_link(self, conversation_id: int, token_hash: str, now: datetime) -> None:
        values = {"token_hash": token_hash, "conversation_id": conversation_id, "created_at": now}
        await self._db.run_write(lambda c: c.execute(insert(status_links), values))

    async def conversation_of_link(self, token_hash: str) -> int | None:
        query = select(status_links.c.conversation_id).where(
            status_links.c.token_hash == token_hash
        )
        found = await self._db.run_read(lambda c: c.execute(query).scalar())
        return int(found) if found is not None else None

    async def public_history(
        self, conversation_id: int, now: datetime, limit: int
    ) -> list[Message]:
        query = (
            select(messages)
            .where(
                messages.c.conversation_id == conversation_id,
                messages.c.visibility == Visibility.PUBLIC.value,
                messages.c.retracted.is_(false()),
                # A reply still held can be withdrawn, so it is not history until it goes out.
                ~exists().where(
                    deliveries.c.message_id == messages.c.id,
                    deliveries.c.state == DeliveryState.PENDING.value,
                    deliveries.c.attempts == 0,
                    deliveries.c.next_attempt_at > now,
                ),
            )
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
        found = await self._db.run_read(
            lambda c: [rows.message(r) for r in c.execute(query).mappings()]
        )
        found.reverse()
        return found

    # --- ratings --------------------------------------------------------------------------

    async def rate(
        self, conversation_id: int, rating: int, comment: str | None, now: datetime
    ) -> Rating:
        values = {"rating": rating, "comment": comment, "created_at": now}

        def work(connection: Connection) -> None:
            known = connection.execute(
                select(conversations.c.id).where(conversations.c.id == conversation_id)
            ).first()
            if known is None:
                raise NotFound(f"no conversation {conversation_id}")
            changed = connection.execute(
                update(csat).where(csat.c.conversation_id == conversation_id).values(values)
            )
            if not changed.rowcount:
                connection.execute(insert(csat), {"conversation_id": conversation_id, **values})

        for attempt in (1, 2):  # two first ratings at once: the loser updates the winner's
            try:
                await self._db.run_write(work)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        return Rating(conversation_id, rating, comment, now)

    async def rating_of(self, conversation_id: int) -> Rating | None:
        query = select(csat).where(csat.c.conversation_id == conversation_id)
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        if row is None:
            return None
        return Rating(row["conversation_id"], row["rating"], row["comment"], row["created_at"])

    async def ratings_since(self, since: datetime) -> list[Rating]:
        query = select(csat).where(csat.c.created_at >= since).order_by(csat.c.id)
        return await self._db.run_read(
            lambda c: [
                Rating(r["conversation_id"], r["rating"], r["comment"], r["created_at"])
                for r in c.execute(query).mappings()
            ]
        )

    # --- the dashboard's history ----------------------------------------------------------

    async def waits_between(self, since: datetime, until: datetime) -> list[WaitRecord]:
        query = (
            select(waits)
            .where(
                waits.c.started_at <= until,
                or_(waits.c.closed_at.is_(None), waits.c.closed_at >= since),
            )
            .order_by(waits.c.started_at)
        )
        return await self._db.run_read(
            lambda c: [
                WaitRecord(
                    channel=r["channel"],
                    kind=r["kind"],
                    started_at=r["started_at"],
                    promise_made_at=r["promise_made_at"],
                    promised_at=r["promised_at"],
                    answered_at=r["answered_at"],
                    closed_at=r["closed_at"],
                    breached_at=r["breached_at"],
                )
                for r in c.execute(query).mappings()
            ]
        )

    async def open_waits(self) -> list[OpenWait]:
        query = select(waits).where(waits.c.closed_at.is_(None)).order_by(waits.c.started_at)
        return await self._db.run_read(
            lambda c: [
                OpenWait(
                    conversation_id=r["conversation_id"],
                    customer_id=r["customer_id"],
                    channel=r["channel"],
                    kind=r["kind"],
                    started_at=r["started_at"],
                    promised_at=r["promised_at"],
                    breached_at=r["breached_at"],
                )
                for r in c.execute(query).mappings()
            ]
        )

    async def agent_loads(self) -> list[AgentLoad]:
        loads = (
            select(conversations.c.assignee_id, func.count().label("load"))
            .where(conversations.c.status == ConversationStatus.ASSIGNED.value)
            .group_by(conversations.c.assignee_id)
        )

        def work(connection: Connection) -> list[AgentLoad]:
            counted = {r.assignee_id: r.load for r in connection.execute(loads)}
            found = connection.execute(select(agents).order_by(agents.c.name)).mappings()
            return [AgentLoad(rows.agent(r), counted.get(r["id"], 0)) for r in found]

        return await self._db.run_read(work)
