"""Conversations, messages and customers: the agents' side of the store."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, false, insert, or_, select, update

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
    PlanEdits,
    PostedMessage,
)
from bridge.states import after_public_agent_reply, after_status_change
from storage import rows
from storage.database import Database
from storage.ids import allocate_ids
from storage.tables import (
    conversations,
    customers,
    deliveries,
    identities,
    message_edits,
    messages,
    threads,
    waits,
)

# Statements on the write paths are built once: building one costs more than running it.
_CONVERSATION = select(conversations).where(conversations.c.id == bindparam("id"))
# Built once: SQLAlchemy derives its statement cache key again for every new statement object,
# and relaying other processes' sends reads this for each message.
_THREAD_MESSAGES = (
    select(messages)
    .join(conversations, conversations.c.id == messages.c.conversation_id)
    .where(
        conversations.c.channel == bindparam("channel"),
        conversations.c.account == bindparam("account"),
        conversations.c.thread_key == bindparam("thread_key"),
        messages.c.visibility == Visibility.PUBLIC.value,
        messages.c.retracted.is_(false()),
        # A reply still held can be withdrawn, so it is not history until it goes out.
        ~exists().where(
            deliveries.c.message_id == messages.c.id,
            deliveries.c.state == DeliveryState.PENDING.value,
            deliveries.c.attempts == 0,
            deliveries.c.next_attempt_at > bindparam("now"),
        ),
        messages.c.id > bindparam("after_id"),
    )
    .order_by(messages.c.id)
    .limit(bindparam("limit"))
)
_CUSTOMERS = select(customers).where(customers.c.id.in_(bindparam("ids", expanding=True)))
_IDENTITIES = (
    select(identities)
    .where(identities.c.customer_id.in_(bindparam("ids", expanding=True)))
    .order_by(identities.c.id)
)
_CONVERSATION_LOCKED = _CONVERSATION.with_for_update()
_CONVERSATIONS = (
    select(conversations)
    .where(conversations.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(conversations.c.id)  # the one lock order (see storage.routing)
)
_CONVERSATIONS_LOCKED = _CONVERSATIONS.with_for_update()
_SAVE = (
    update(conversations)
    .where(conversations.c.id == bindparam("b_id"))
    .values({c.name: bindparam(f"b_{c.name}") for c in conversations.c if c.name != "id"})
)
_INSERT_MESSAGE = insert(messages)
_INSERT_DELIVERIES = insert(deliveries)
_REPEAT = select(messages).where(
    messages.c.source == bindparam("source"), messages.c.external_id == bindparam("key")
)
_MESSAGE = select(messages).where(messages.c.id == bindparam("id"))
# A public agent reply answers the open waiting period; a resolve closes it unanswered.
_ANSWER_WAIT = (
    update(waits)
    .where(waits.c.conversation_id == bindparam("cid"), waits.c.closed_at.is_(None))
    .values(answered_at=bindparam("now"), closed_at=bindparam("now"))
)
_CLOSE_WAIT = (
    update(waits)
    .where(waits.c.conversation_id == bindparam("cid"), waits.c.closed_at.is_(None))
    .values(closed_at=bindparam("now"))
)
_INSERT_EDIT = insert(message_edits)
_SET_TEXT = (
    update(messages)
    .where(messages.c.id == bindparam("b_id"))
    .values(text=bindparam("b_text"), edited=True)
)
_EDITS_OF_MESSAGE = (
    select(message_edits)
    .where(message_edits.c.message_id == bindparam("id"))
    .order_by(message_edits.c.id)
)
_DELIVERIES_OF_MESSAGE = (
    select(deliveries).where(deliveries.c.message_id == bindparam("id")).order_by(deliveries.c.id)
)


def agent_source(author: Author, author_id: int | None) -> str:
    """The dedupe scope of messages written through the API (idempotency keys)."""
    return f"{author.value}:{author_id or 0}"


class SqlConversations:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- reads ----------------------------------------------------------------------------

    async def get_conversation(self, conversation_id: int) -> Conversation:
        return await self._db.run_read(lambda c: _conversation(c, conversation_id))

    async def get_customer(self, customer_id: int) -> Customer:
        found = await self.get_customers([customer_id])
        if customer_id not in found:
            raise NotFound(f"no customer {customer_id}")
        return found[customer_id]

    async def get_customers(self, customer_ids: Sequence[int]) -> dict[int, Customer]:
        wanted = sorted(set(customer_ids))
        if not wanted:
            return {}

        def work(connection: Connection) -> dict[int, Customer]:
            found = connection.execute(_CUSTOMERS, {"ids": wanted}).mappings()
            by_customer: defaultdict[int, list[Any]] = defaultdict(list)
            for row in connection.execute(_IDENTITIES, {"ids": wanted}).mappings():
                by_customer[row["customer_id"]].append(row)
            return {row["id"]: rows.customer(row, by_customer[row["id"]]) for row in found}

        return await self._db.run_read(work)

    async def customer_names(self, customer_ids: Sequence[int]) -> dict[int, str]:
        wanted = sorted(set(customer_ids))
        if not wanted:
            return {}
        query = select(customers.c.id, customers.c.display_name).where(customers.c.id.in_(wanted))
        return await self._db.run_read(lambda c: {r.id: r.display_name for r in c.execute(query)})

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
        found = await self._db.run_read(
            lambda c: [rows.conversation(r) for r in c.execute(query).mappings()]
        )
        more = len(found) > limit
        found = found[:limit]
        return ConversationPage(tuple(found), found[-1].id if more and found else None)

    async def messages(self, conversation_id: int) -> list[Message]:
        def work(connection: Connection) -> list[Message]:
            _conversation(connection, conversation_id)
            message_rows = list(
                connection.execute(
                    select(messages)
                    .where(messages.c.conversation_id == conversation_id)
                    .order_by(messages.c.id)
                ).mappings()
            )
            edits: dict[int, list[MessageEdit]] = defaultdict(list)
            if any(r["edited"] for r in message_rows):
                edit_rows = connection.execute(
                    select(message_edits)
                    .join(messages, messages.c.id == message_edits.c.message_id)
                    .where(messages.c.conversation_id == conversation_id)
                    .order_by(message_edits.c.id)
                )
                for e in edit_rows.mappings():
                    edits[e["message_id"]].append(MessageEdit(e["previous_text"], e["edited_at"]))
            return [rows.message(r, edits.get(r["id"], ())) for r in message_rows]

        return await self._db.run_read(work)

    async def deliveries_for(self, conversation_id: int) -> list[DeliveryView]:
        query = (
            select(deliveries)
            .where(deliveries.c.conversation_id == conversation_id)
            .order_by(deliveries.c.id)
        )

        def work(connection: Connection) -> list[DeliveryView]:
            return [
                DeliveryView(
                    delivery_id=r["id"],
                    message_id=r["message_id"],
                    state=r["state"],
                    attempts=r["attempts"],
                    last_error=r["last_error"],
                    external_id=r["external_id"],
                )
                for r in connection.execute(query).mappings()
            ]

        return await self._db.run_read(work)

    # --- customer-facing reads (only public rows; callers still pass them through the gate)

    async def thread_messages(
        self, thread: ThreadRef, after_id: int, limit: int, *, now: datetime
    ) -> list[Message]:
        values = {
            "channel": thread.channel,
            "account": thread.account,
            "thread_key": thread.thread_key,
            "now": now,
            "after_id": after_id,
            "limit": limit,
        }
        return await self._db.run_read(
            lambda c: [rows.message(r) for r in c.execute(_THREAD_MESSAGES, values).mappings()]
        )

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

        def work(connection: Connection) -> Conversation | None:
            row = connection.execute(query).mappings().first()
            return rows.conversation(row) if row else None

        return await self._db.run_read(work)

    # --- writes ---------------------------------------------------------------------------

    async def post_message(
        self, new: NewAgentMessage, plan: PlanDeliveries, now: datetime
    ) -> PostedMessage:
        return await self._db.run_write(lambda c: _post_message(c, new, plan, now))

    async def post_messages(
        self, news: Sequence[NewAgentMessage], plan: PlanDeliveries, now: datetime
    ) -> list[PostedMessage]:
        return await self._db.run_write(lambda c: post_messages_in(c, news, plan, now))

    async def edit_message(self, message_id: int, text: str, now: datetime) -> Message:
        return await self._db.run_write(lambda c: _edit_message(c, message_id, text, now))

    async def edit_public(
        self, message_id: int, text: str, now: datetime, plan: PlanEdits
    ) -> tuple[Message, Conversation, tuple[Delivery, ...]]:
        def work(connection: Connection) -> tuple[Message, Conversation, tuple[Delivery, ...]]:
            before = connection.execute(_MESSAGE, {"id": message_id}).mappings().first()
            if before is None:
                raise NotFound(f"no message {message_id}")
            message = _edit_message(connection, message_id, text, now)
            conversation = _conversation(connection, message.conversation_id)
            if before["text"] == text or not message.is_public:
                return message, conversation, ()
            # Sent, or claimed for sending right now; an unclaimed one goes out with the new text.
            sent = [
                rows.delivery(r)
                for r in connection.execute(_DELIVERIES_OF_MESSAGE, {"id": message_id}).mappings()
                if r["state"] == DeliveryState.SENT.value
                or (r["state"] == DeliveryState.PENDING.value and _leased(r["lease_until"], now))
            ]
            created = _insert_deliveries(connection, plan(message, sent), now)
            return message, conversation, tuple(created)

        return await self._db.run_write(work)

    async def edit_by_external(
        self, source: str, external_id: str, text: str, now: datetime
    ) -> tuple[Message, Conversation] | None:
        def work(connection: Connection) -> tuple[Message, Conversation] | None:
            row = connection.execute(_REPEAT, {"source": source, "key": external_id}).first()
            if row is None:
                return None
            message = _edit_message(connection, row.id, text, now)
            return message, _conversation(connection, message.conversation_id)

        return await self._db.run_write(work)

    async def retract(self, message_id: int, now: datetime) -> tuple[Message, bool]:
        def work(connection: Connection) -> tuple[Message, bool]:
            row = connection.execute(_MESSAGE, {"id": message_id}).mappings().first()
            if row is None:
                raise NotFound(f"no message {message_id}")
            # Too late once any delivery went out or is being sent under a lease.
            busy = connection.execute(
                select(deliveries.c.id).where(
                    deliveries.c.message_id == message_id,
                    or_(
                        deliveries.c.state != DeliveryState.PENDING.value,
                        deliveries.c.lease_until >= now,
                    ),
                    deliveries.c.state != DeliveryState.CANCELLED.value,
                )
            ).first()
            if busy is not None:
                return rows.message(row), False
            connection.execute(
                update(deliveries)
                .where(deliveries.c.message_id == message_id)
                .values(state=DeliveryState.CANCELLED.value, updated_at=now)
            )
            connection.execute(
                update(messages).where(messages.c.id == message_id).values(retracted=True)
            )
            fresh = connection.execute(_MESSAGE, {"id": message_id}).mappings().one()
            return rows.message(fresh), True

        return await self._db.run_write(work)

    async def get_message(self, message_id: int) -> Message:
        def work(connection: Connection) -> Message:
            row = connection.execute(_MESSAGE, {"id": message_id}).mappings().first()
            if row is None:
                raise NotFound(f"no message {message_id}")
            edits = [
                MessageEdit(e["previous_text"], e["edited_at"])
                for e in connection.execute(_EDITS_OF_MESSAGE, {"id": message_id}).mappings()
            ]
            return rows.message(row, edits)

        return await self._db.run_read(work)

    async def message_by_external(self, source: str, external_id: str) -> Message | None:
        def work(connection: Connection) -> Message | None:
            row = connection.execute(_REPEAT, {"source": source, "key": external_id})
            found = row.mappings().first()
            return rows.message(found) if found else None

        return await self._db.run_read(work)

    async def messages_after(self, after_id: int, limit: int) -> list[Message]:
        query = (
            select(messages).where(messages.c.id > after_id).order_by(messages.c.id).limit(limit)
        )
        return await self._db.run_read(
            lambda c: [rows.message(r) for r in c.execute(query).mappings()]
        )

    async def set_status(
        self, conversation_id: int, status: ConversationStatus, now: datetime
    ) -> Conversation:
        def work(connection: Connection) -> Conversation:
            current = _conversation(connection, conversation_id, lock=True)
            changed = after_status_change(current, status, now)
            _save(connection, changed)
            if status is ConversationStatus.RESOLVED:
                connection.execute(_CLOSE_WAIT, {"cid": conversation_id, "now": now})
            return changed

        return await self._db.run_write(work)


def _edit_message(connection: Connection, message_id: int, text: str, now: datetime) -> Message:
    row = connection.execute(_MESSAGE, {"id": message_id}).mappings().first()
    if row is None:
        raise NotFound(f"no message {message_id}")
    if row["text"] != text:
        connection.execute(
            _INSERT_EDIT,
            {"message_id": message_id, "previous_text": row["text"], "edited_at": now},
        )
        connection.execute(_SET_TEXT, {"b_id": message_id, "b_text": text})
    edits = [
        MessageEdit(e["previous_text"], e["edited_at"])
        for e in connection.execute(_EDITS_OF_MESSAGE, {"id": message_id}).mappings()
    ]
    fresh = connection.execute(_MESSAGE, {"id": message_id}).mappings().one()
    return rows.message(fresh, edits)


def _post_message(
    connection: Connection, new: NewAgentMessage, plan: PlanDeliveries, now: datetime
) -> PostedMessage:
    source = agent_source(new.author, new.author_id)
    if new.client_key is not None:
        repeat = _repeat(connection, source, new.client_key)
        if repeat is not None:
            return repeat
    conversation = _conversation(connection, new.conversation_id, lock=True)
    [message_id] = allocate_ids(connection, messages, 1)
    message = Message(
        id=message_id,
        conversation_id=conversation.id,
        author=new.author,
        author_name=new.author_name[:200],
        visibility=new.visibility,
        text=new.text,
        created_at=now,
        author_id=new.author_id,
        attachments=new.attachments,
        source=source if new.client_key is not None else None,
        external_id=new.client_key,
        reply_to_id=new.reply_to_id,
    )
    connection.execute(_INSERT_MESSAGE, _message_values(message))
    created: list[Delivery] = []
    if message.is_public:
        created = _insert_deliveries(
            connection, plan(message, conversation), now, send_after=new.send_after
        )
        if new.author is Author.AGENT:
            conversation = after_public_agent_reply(conversation, now)
            _save(connection, conversation)
            connection.execute(_ANSWER_WAIT, {"cid": conversation.id, "now": now})
    return PostedMessage(message, conversation, tuple(created))


def post_messages_in(
    connection: Connection, news: Sequence[NewAgentMessage], plan: PlanDeliveries, now: datetime
) -> list[PostedMessage]:
    """Bot and system messages (the router's acknowledgements) with a fixed number of
    statements however many there are; anything else one by one through :func:`_post_message`
    (a client key to look up, an agent reply that changes its conversation)."""
    if any(n.client_key is not None or n.author is Author.AGENT for n in news):
        return [_post_message(connection, n, plan, now) for n in news]
    wanted = sorted({n.conversation_id for n in news})
    query = _CONVERSATIONS_LOCKED if connection.dialect.name == "postgresql" else _CONVERSATIONS
    found = {
        r["id"]: rows.conversation(r) for r in connection.execute(query, {"ids": wanted}).mappings()
    }
    for new in news:
        if new.conversation_id not in found:
            raise NotFound(f"no conversation {new.conversation_id}")
    posted: list[PostedMessage] = []
    values: list[dict[str, object]] = []
    for new, message_id in zip(news, allocate_ids(connection, messages, len(news)), strict=True):
        message = Message(
            id=message_id,
            conversation_id=new.conversation_id,
            author=new.author,
            author_name=new.author_name[:200],
            visibility=new.visibility,
            text=new.text,
            created_at=now,
            author_id=new.author_id,
            attachments=new.attachments,
            reply_to_id=new.reply_to_id,
        )
        values.append(_message_values(message))
        posted.append(PostedMessage(message, found[new.conversation_id], ()))
    connection.execute(_INSERT_MESSAGE, values)
    planned = [
        (index, delivery)
        for index, (new, one) in enumerate(zip(news, posted, strict=True))
        if one.message.is_public
        for delivery in plan(one.message, one.conversation)
    ]
    # Deliveries are inserted together per send_after (the same for every message here but
    # for a held reply), then handed back to their messages.
    by_index: defaultdict[int, list[Delivery]] = defaultdict(list)
    for send_after in {news[index].send_after for index, _ in planned}:
        group = [(i, d) for i, d in planned if news[i].send_after == send_after]
        created = _insert_deliveries(connection, [d for _, d in group], now, send_after=send_after)
        for (index, _), delivery in zip(group, created, strict=True):
            by_index[index].append(delivery)
    return [
        PostedMessage(one.message, one.conversation, tuple(by_index[index]))
        for index, one in enumerate(posted)
    ]


def _message_values(message: Message) -> dict[str, object]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "author": message.author.value,
        "author_id": message.author_id,
        "author_name": message.author_name,
        "visibility": message.visibility.value,
        "text": message.text,
        "attachments": rows.attachments_json(message.attachments),
        "source": message.source,
        "external_id": message.external_id,
        "reply_to_id": message.reply_to_id,
        "edited": False,
        "created_at": message.created_at,
    }


def _conversation(
    connection: Connection, conversation_id: int, *, lock: bool = False
) -> Conversation:
    locking = lock and connection.dialect.name == "postgresql"
    query = _CONVERSATION_LOCKED if locking else _CONVERSATION
    row = connection.execute(query, {"id": conversation_id}).mappings().first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return rows.conversation(row)


def _save(connection: Connection, conversation: Conversation) -> None:
    values = rows.conversation_values(conversation)
    connection.execute(_SAVE, {"b_id": conversation.id, **{f"b_{k}": v for k, v in values.items()}})


def _repeat(connection: Connection, source: str, key: str) -> PostedMessage | None:
    row = connection.execute(_REPEAT, {"source": source, "key": key}).mappings().first()
    if row is None:
        return None
    message = rows.message(row)
    conversation = _conversation(connection, message.conversation_id)
    found = connection.execute(_DELIVERIES_OF_MESSAGE, {"id": message.id})
    return PostedMessage(
        message,
        conversation,
        tuple(rows.delivery(r) for r in found.mappings()),
        duplicate=True,
    )


def _insert_deliveries(
    connection: Connection,
    planned: Sequence[PlannedDelivery],
    now: datetime,
    *,
    send_after: datetime | None = None,
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
                "next_attempt_at": max(now, send_after) if send_after else now,
                "idempotency_key": item.idempotency_key,
                "created_at": now,
                "updated_at": now,
                "operation": "edit" if item.edit_of is not None else "send",
                "edit_of": item.edit_of,
            }
        )
    if not values:
        return []
    ids = allocate_ids(connection, deliveries, len(values))
    for row, delivery_id in zip(values, ids, strict=True):
        row["id"] = delivery_id
    connection.execute(_INSERT_DELIVERIES, values)
    return [
        rows.delivery({**row, "external_id": None, "last_error": None, "sent_at": None})
        for row in values
    ]


def _leased(lease_until: datetime | None, now: datetime) -> bool:
    return lease_until is not None and rows.as_utc(lease_until) >= now
