"""Conversations, messages and customers: the agents' side of the store."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.errors import NotFound
from bridge.gate import PlannedDelivery
from bridge.model import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Delivery,
    DeliveryState,
    Message,
    MessageEdit,
    ThreadRef,
    Visibility,
)
from bridge.ports import (
    ConversationPage,
    DeliveryView,
    NewAgentMessage,
    PlanDeliveries,
    PostedMessage,
)
from bridge.states import after_public_agent_reply, after_status_change
from storage import rows
from storage.database import Database
from storage.tables import (
    conversations,
    customers,
    deliveries,
    identities,
    message_edits,
    messages,
    threads,
)


def agent_source(author: Author, author_id: int | None) -> str:
    """The dedupe scope of messages written through the API (idempotency keys)."""
    return f"{author.value}:{author_id or 0}"


class SqlConversations:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- reads ----------------------------------------------------------------------------

    async def get_conversation(self, conversation_id: int) -> Conversation:
        async with self._db.read() as connection:
            return await _conversation(connection, conversation_id)

    async def get_customer(self, customer_id: int) -> Customer:
        async with self._db.read() as connection:
            row = (
                (await connection.execute(select(customers).where(customers.c.id == customer_id)))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"no customer {customer_id}")
            found = await connection.execute(
                select(identities)
                .where(identities.c.customer_id == customer_id)
                .order_by(identities.c.id)
            )
            return rows.customer(row, found.mappings())

    async def list_conversations(
        self,
        *,
        status: ConversationStatus | None = None,
        assignee_id: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> ConversationPage:
        query = select(conversations).order_by(conversations.c.id.desc()).limit(limit + 1)
        if status is not None:
            query = query.where(conversations.c.status == status.value)
        if assignee_id is not None:
            query = query.where(conversations.c.assignee_id == assignee_id)
        if before is not None:
            query = query.where(conversations.c.id < before)
        async with self._db.read() as connection:
            found = [rows.conversation(r) for r in (await connection.execute(query)).mappings()]
        more = len(found) > limit
        found = found[:limit]
        return ConversationPage(tuple(found), found[-1].id if more and found else None)

    async def messages(self, conversation_id: int) -> list[Message]:
        async with self._db.read() as connection:
            await _conversation(connection, conversation_id)
            found = (
                await connection.execute(
                    select(messages)
                    .where(messages.c.conversation_id == conversation_id)
                    .order_by(messages.c.id)
                )
            ).mappings()
            message_rows = list(found)
            edits: dict[int, list[MessageEdit]] = defaultdict(list)
            if any(r["edited"] for r in message_rows):
                edit_rows = await connection.execute(
                    select(message_edits)
                    .join(messages, messages.c.id == message_edits.c.message_id)
                    .where(messages.c.conversation_id == conversation_id)
                    .order_by(message_edits.c.id)
                )
                for e in edit_rows.mappings():
                    edits[e["message_id"]].append(MessageEdit(e["previous_text"], e["edited_at"]))
        return [rows.message(r, edits.get(r["id"], ())) for r in message_rows]

    async def deliveries_for(self, conversation_id: int) -> list[DeliveryView]:
        async with self._db.read() as connection:
            found = await connection.execute(
                select(deliveries)
                .where(deliveries.c.conversation_id == conversation_id)
                .order_by(deliveries.c.id)
            )
            return [
                DeliveryView(
                    delivery_id=r["id"],
                    message_id=r["message_id"],
                    state=r["state"],
                    attempts=r["attempts"],
                    last_error=r["last_error"],
                    external_id=r["external_id"],
                )
                for r in found.mappings()
            ]

    # --- customer-facing reads (only public rows; callers still pass them through the gate)

    async def thread_messages(self, thread: ThreadRef, after_id: int, limit: int) -> list[Message]:
        query = (
            select(messages)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(
                conversations.c.channel == thread.channel,
                conversations.c.account == thread.account,
                conversations.c.thread_key == thread.thread_key,
                messages.c.visibility == Visibility.PUBLIC.value,
                messages.c.id > after_id,
            )
            .order_by(messages.c.id)
            .limit(limit)
        )
        async with self._db.read() as connection:
            return [rows.message(r) for r in (await connection.execute(query)).mappings()]

    async def current_conversation(self, thread: ThreadRef) -> Conversation | None:
        query = (
            select(conversations)
            .join(threads, threads.c.conversation_id == conversations.c.id)
            .where(
                threads.c.channel == thread.channel,
                threads.c.account == thread.account,
                threads.c.thread_key == thread.thread_key,
            )
        )
        async with self._db.read() as connection:
            row = (await connection.execute(query)).mappings().first()
        return rows.conversation(row) if row else None

    # --- writes ---------------------------------------------------------------------------

    async def post_message(
        self, new: NewAgentMessage, plan: PlanDeliveries, now: datetime
    ) -> PostedMessage:
        source = agent_source(new.author, new.author_id)
        async with self._db.write() as connection:
            if new.client_key is not None:
                repeat = await _repeat(connection, source, new.client_key)
                if repeat is not None:
                    return repeat
            conversation = await _conversation(connection, new.conversation_id, lock=True)
            inserted = await connection.execute(
                insert(messages).returning(messages.c.id),
                {
                    "conversation_id": conversation.id,
                    "author": new.author.value,
                    "author_id": new.author_id,
                    "author_name": new.author_name[:200],
                    "visibility": new.visibility.value,
                    "text": new.text,
                    "attachments": None,
                    "source": source if new.client_key is not None else None,
                    "external_id": new.client_key,
                    "reply_to_id": None,
                    "edited": False,
                    "created_at": now,
                },
            )
            message = Message(
                id=inserted.scalar_one(),
                conversation_id=conversation.id,
                author=new.author,
                author_name=new.author_name[:200],
                visibility=new.visibility,
                text=new.text,
                created_at=now,
                author_id=new.author_id,
                source=source if new.client_key is not None else None,
                external_id=new.client_key,
            )
            created: list[Delivery] = []
            if message.is_public:
                created = await _insert_deliveries(connection, plan(message, conversation), now)
                if new.author is Author.AGENT:
                    conversation = after_public_agent_reply(conversation, now)
                    await _save(connection, conversation)
        return PostedMessage(message, conversation, tuple(created))

    async def set_status(
        self, conversation_id: int, status: ConversationStatus, now: datetime
    ) -> Conversation:
        async with self._db.write() as connection:
            current = await _conversation(connection, conversation_id, lock=True)
            changed = after_status_change(current, status, now)
            await _save(connection, changed)
        return changed


async def _conversation(
    connection: AsyncConnection, conversation_id: int, *, lock: bool = False
) -> Conversation:
    query = select(conversations).where(conversations.c.id == conversation_id)
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return rows.conversation(row)


async def _save(connection: AsyncConnection, conversation: Conversation) -> None:
    await connection.execute(
        update(conversations)
        .where(conversations.c.id == conversation.id)
        .values(rows.conversation_values(conversation))
    )


async def _repeat(connection: AsyncConnection, source: str, key: str) -> PostedMessage | None:
    row = (
        (
            await connection.execute(
                select(messages).where(
                    and_(messages.c.source == source, messages.c.external_id == key)
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    message = rows.message(row)
    conversation = await _conversation(connection, message.conversation_id)
    found = await connection.execute(
        select(deliveries).where(deliveries.c.message_id == message.id).order_by(deliveries.c.id)
    )
    return PostedMessage(
        message,
        conversation,
        tuple(rows.delivery(r) for r in found.mappings()),
        duplicate=True,
    )


async def _insert_deliveries(
    connection: AsyncConnection, planned: Sequence[PlannedDelivery], now: datetime
) -> list[Delivery]:
    values = []
    for item in planned:
        candidate: object = item
        # Only the gate's sealed type is accepted, whatever a caller's annotations claimed.
        if not isinstance(candidate, PlannedDelivery):
            raise TypeError("deliveries are created by bridge.gate.plan_deliveries only")
        values.append(
            {
                "message_id": item.message_id,
                "conversation_id": item.conversation_id,
                "channel": item.destination.channel,
                "account": item.destination.account,
                "thread_key": item.destination.thread_key,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "idempotency_key": item.idempotency_key,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not values:
        return []
    result = await connection.execute(
        insert(deliveries).returning(*deliveries.c, sort_by_parameter_order=True), values
    )
    return [rows.delivery(r) for r in result.mappings()]
