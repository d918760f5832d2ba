"""The inbox's reads and customer operations: search, list rows, a customer's whole history,
merging two customers, and unread marks.

Search is a plain case-insensitive ``LIKE`` over message texts, customer names and emails:
enough for tens of thousands of conversations; a full-text index can replace it behind the
same port when stores grow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, case, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bridge.errors import InvalidInput, NotFound
from bridge.model import Author, Conversation, Customer, Message, MessageEdit
from bridge.ports import ConversationQuery, ConversationRow
from storage import rows
from storage.database import Database
from storage.tables import (
    conversations,
    csat,
    customers,
    identities,
    message_edits,
    messages,
    reads,
    visitors,
    waits,
)

PREVIEW_CHARS = 140


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(query: ConversationQuery) -> Select[Any]:
    statement = select(conversations).order_by(conversations.c.id.desc()).limit(query.limit)
    if query.channel:
        statement = statement.where(conversations.c.channel == query.channel)
    if query.status is not None:
        statement = statement.where(conversations.c.status == query.status.value)
    if query.team:
        statement = statement.where(conversations.c.team == query.team)
    if query.tier is not None:
        statement = statement.where(conversations.c.tier == query.tier)
    if query.assignee_id is not None:
        statement = statement.where(conversations.c.assignee_id == query.assignee_id)
    if query.before is not None:
        statement = statement.where(conversations.c.id < query.before)
    text = (query.text or "").strip()
    if text:
        pattern = _like(text)
        matches = [
            conversations.c.customer_id.in_(
                select(customers.c.id).where(
                    or_(
                        customers.c.display_name.ilike(pattern, escape="\\"),
                        customers.c.email.ilike(pattern, escape="\\"),
                    )
                )
            ),
            exists().where(
                messages.c.conversation_id == conversations.c.id,
                messages.c.text.ilike(pattern, escape="\\"),
            ),
        ]
        reference = text.removeprefix("#")
        if reference.isdigit() and len(reference) < 18:
            matches.append(conversations.c.id == int(reference))
        statement = statement.where(or_(*matches))
    return statement


def _pairs(result: Any) -> dict[Any, Any]:
    return {row[0]: row[1] for row in result}


def _rows(
    connection: Connection, found: Sequence[Conversation], reader_id: int
) -> list[ConversationRow]:
    if not found:
        return []
    ids = [c.id for c in found]
    names = {
        r.id: r.display_name
        for r in connection.execute(
            select(customers.c.id, customers.c.display_name).where(
                customers.c.id.in_({c.customer_id for c in found})
            )
        )
    }
    latest = _pairs(
        connection.execute(
            select(messages.c.conversation_id, func.max(messages.c.id))
            .where(
                messages.c.conversation_id.in_(ids),
                messages.c.author == Author.CUSTOMER.value,
            )
            .group_by(messages.c.conversation_id)
        )
    )
    texts = _pairs(
        connection.execute(
            select(messages.c.id, messages.c.text).where(messages.c.id.in_(latest.values()))
        )
    )
    seen = _pairs(
        connection.execute(
            select(reads.c.conversation_id, reads.c.last_read_id).where(
                reads.c.agent_id == reader_id, reads.c.conversation_id.in_(ids)
            )
        )
    )
    ratings = _pairs(
        connection.execute(
            select(csat.c.conversation_id, csat.c.rating).where(csat.c.conversation_id.in_(ids))
        )
    )
    result = []
    for conversation in found:
        last = latest.get(conversation.id)
        preview = texts.get(last) if last is not None else None
        if preview is not None and len(preview) > PREVIEW_CHARS:
            preview = preview[: PREVIEW_CHARS - 1] + "\u2026"
        result.append(
            ConversationRow(
                conversation=conversation,
                customer_name=names.get(conversation.customer_id, ""),
                preview=preview,
                unread=last is not None and last > seen.get(conversation.id, 0),
                rating=ratings.get(conversation.id),
            )
        )
    return result


class SqlInbox:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def search(self, query: ConversationQuery, reader_id: int) -> list[ConversationRow]:
        statement = _search(query)

        def work(connection: Connection) -> list[ConversationRow]:
            found = [rows.conversation(r) for r in connection.execute(statement).mappings()]
            return _rows(connection, found, reader_id)

        return await self._db.run_read(work)

    async def rows(self, conversation_ids: Sequence[int], reader_id: int) -> list[ConversationRow]:
        wanted = list(conversation_ids)
        if not wanted:
            return []
        statement = select(conversations).where(conversations.c.id.in_(wanted))

        def work(connection: Connection) -> list[ConversationRow]:
            found = {
                r["id"]: rows.conversation(r) for r in connection.execute(statement).mappings()
            }
            return _rows(connection, [found[i] for i in wanted if i in found], reader_id)

        return await self._db.run_read(work)

    async def customer_history(
        self, customer_id: int, limit: int
    ) -> list[tuple[Conversation, list[Message]]]:
        def work(connection: Connection) -> list[tuple[Conversation, list[Message]]]:
            found = [
                rows.conversation(r)
                for r in connection.execute(
                    select(conversations)
                    .where(conversations.c.customer_id == customer_id)
                    .order_by(conversations.c.id)
                ).mappings()
            ]
            if not found:
                return []
            message_rows = list(
                connection.execute(
                    select(messages)
                    .where(messages.c.conversation_id.in_([c.id for c in found]))
                    .order_by(messages.c.id.desc())
                    .limit(limit)
                ).mappings()
            )
            message_rows.reverse()
            edits: dict[int, list[MessageEdit]] = defaultdict(list)
            edited = [r["id"] for r in message_rows if r["edited"]]
            if edited:
                for e in connection.execute(
                    select(message_edits)
                    .where(message_edits.c.message_id.in_(edited))
                    .order_by(message_edits.c.id)
                ).mappings():
                    edits[e["message_id"]].append(MessageEdit(e["previous_text"], e["edited_at"]))
            by_conversation: dict[int, list[Message]] = defaultdict(list)
            for r in message_rows:
                by_conversation[r["conversation_id"]].append(
                    rows.message(r, edits.get(r["id"], ()))
                )
            return [(c, by_conversation.get(c.id, [])) for c in found]

        return await self._db.run_read(work)

    async def merge_customers(self, keep_id: int, other_id: int, now: datetime) -> Customer:
        if keep_id == other_id:
            raise InvalidInput("a customer cannot be merged with itself")

        def work(connection: Connection) -> Customer:
            found = {
                r["id"]: r
                for r in connection.execute(
                    select(customers).where(customers.c.id.in_([keep_id, other_id]))
                ).mappings()
            }
            for wanted in (keep_id, other_id):
                if wanted not in found:
                    raise NotFound(f"no customer {wanted}")
            keep, other = found[keep_id], found[other_id]
            for table in (identities, conversations, waits, visitors):
                connection.execute(
                    update(table).where(table.c.customer_id == other_id).values(customer_id=keep_id)
                )
            # What the kept customer lacks, the other one may know.
            filled = {
                name: other[name]
                for name in ("email", "language", "timezone")
                if keep[name] is None and other[name] is not None
            }
            connection.execute(
                update(customers).where(customers.c.id == keep_id).values(updated_at=now, **filled)
            )
            connection.execute(delete(customers).where(customers.c.id == other_id))
            row = connection.execute(select(customers).where(customers.c.id == keep_id))
            found_identities = connection.execute(
                select(identities)
                .where(identities.c.customer_id == keep_id)
                .order_by(identities.c.id)
            )
            return rows.customer(row.mappings().one(), found_identities.mappings())

        return await self._db.run_write(work)

    async def mark_read(
        self, agent_id: int, conversation_id: int, message_id: int, now: datetime
    ) -> None:
        values = {
            "agent_id": agent_id,
            "conversation_id": conversation_id,
            "last_read_id": message_id,
            "updated_at": now,
        }

        def work(connection: Connection) -> None:
            insert = sqlite_insert if connection.dialect.name == "sqlite" else pg_insert
            statement = insert(reads).values(values)
            newer = statement.excluded.last_read_id
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[reads.c.agent_id, reads.c.conversation_id],
                    set_={
                        # Never backwards: two tabs may report out of order.
                        "last_read_id": case(
                            (reads.c.last_read_id > newer, reads.c.last_read_id), else_=newer
                        ),
                        "updated_at": statement.excluded.updated_at,
                    },
                )
            )

        await self._db.run_write(work)
