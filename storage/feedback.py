"""What customers see and say outside the conversation: status page links (token hashes
only) and satisfaction ratings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, exists, false, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge.errors import NotFound
from bridge.model import DeliveryState, Message, Visibility
from bridge.ports import Rating
from storage import rows
from storage.database import Database
from storage.tables import conversations, csat, deliveries, messages, status_links


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
