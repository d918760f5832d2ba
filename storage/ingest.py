"""The ingest transaction: a batch of customer messages stored with a fixed number of
statements, whatever the batch size.

For a batch the transaction runs, in order: one SELECT for already-stored external ids, one
for known identities, one for the threads' current conversations, then bulk INSERTs of new
customers, identities, conversations and messages (``RETURNING`` ids through SQLAlchemy's
insertmanyvalues) and one bulk UPDATE of the conversations that changed. The decisions between
them (which customer, which conversation, reopen or not) are made in memory in arrival order
by :mod:`bridge.states`, so message N+1 of a batch sees what message N did.

Under concurrency from several processes on PostgreSQL, two transactions may race to create
the same customer, thread or message; the loser hits a unique constraint, rolls back, and the
whole batch is run again, this time finding the winner's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bridge.inbound import InboundMessage, IngestResult
from bridge.model import (
    Author,
    Conversation,
    ConversationStatus,
    Message,
    ThreadRef,
    Visibility,
)
from bridge.ports import ConversationPolicy
from bridge.states import Open, after_customer_message
from storage import ingest_sql as sql
from storage import rows
from storage.database import Database
from storage.ids import allocate
from storage.tables import conversations, customers, identities, messages, threads, waits

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
EMAIL = "email"


@dataclass(slots=True)
class _NewCustomer:
    values: dict[str, Any]
    identities: list[tuple[str, str, bool]]
    id: int = 0


@dataclass(slots=True)
class _Planned:
    """One item's outcome before ids are known."""

    item: InboundMessage
    customer: _NewCustomer | int
    conversation_key: int  # index into the batch's conversation states
    snapshot: Conversation | None = None
    opened: bool = False
    reopened: bool = False
    duplicate_of: int | None = None  # index of the first occurrence within the batch
    message_id: int = 0


@dataclass(slots=True)
class _ConversationState:
    conversation: Conversation
    is_new: bool
    changed: bool = False
    id: int = 0  # real id once inserted
    customer: _NewCustomer | int = 0
    members: list[int] = field(default_factory=list)
    #: A waiting period this batch started: (when, "first" or "next" response).
    wait: tuple[datetime, str] | None = None


class SqlIngest:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def ingest_batch(
        self, items: Sequence[InboundMessage], policy: ConversationPolicy, now: datetime
    ) -> list[IngestResult]:
        dialect = self._db.dialect
        # Redelivered messages are rare, so the first attempt does not look for them: the
        # unique key on (source, external_id) refuses a repeat, the transaction rolls back,
        # and the batch runs again with the lookup. The same retry settles a race with
        # another process creating the same customer or conversation.
        check_stored = False

        def work(connection: Connection) -> list[IngestResult]:
            return _ingest(connection, dialect, items, policy, now, check_stored=check_stored)

        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await self._db.run_write(work)
            except IntegrityError:
                if attempt == MAX_ATTEMPTS:
                    raise
                if check_stored:
                    log.info("ingest batch raced another writer (attempt %d)", attempt)
                check_stored = True
        raise AssertionError("unreachable")


def _ingest(
    connection: Connection,
    dialect: str,
    items: Sequence[InboundMessage],
    policy: ConversationPolicy,
    now: datetime,
    *,
    check_stored: bool,
) -> list[IngestResult]:
    # 1. Dedupe against what is stored (when asked) and within the batch.
    keys = [(m.thread.source, m.external_id) for m in items]
    stored = sql.stored_messages(connection, keys) if check_stored else {}
    first_in_batch: dict[tuple[str, str], int] = {}

    # 2. Who wrote: known identities, and verified emails that link a new identity to a
    # customer we already know.
    sender_keys = {(m.thread.channel, m.sender_id) for m in items}
    email_keys = {(EMAIL, m.email.lower()) for m in items if m.email and m.email_verified}
    known = sql.identity_owners(connection, [*sender_keys, *email_keys])

    # 3. Each thread's current conversation.
    current = sql.current_conversations(connection, [m.thread for m in items])
    # A customer message starts a waiting period unless one is open already (a requeue or a
    # transfer gives an answered conversation a place in line, not a waiting customer).
    waiting = sql.open_waits(connection, [c.id for c in current.values()])

    planned: list[_Planned] = []
    new_customers: list[_NewCustomer] = []
    new_identities: list[tuple[_NewCustomer | int, str, str, bool]] = []
    states: list[_ConversationState] = []
    state_of_thread: dict[ThreadRef, int] = {}
    for conv in current.values():
        state_of_thread[conv.origin] = len(states)
        states.append(_ConversationState(conv, is_new=False, id=conv.id, customer=conv.customer_id))

    for index, item in enumerate(items):
        key = (item.thread.source, item.external_id)
        if key in stored:
            planned.append(_Planned(item, 0, -1))
            continue
        if key in first_in_batch:
            planned.append(_Planned(item, 0, -1, duplicate_of=first_in_batch[key]))
            continue
        first_in_batch[key] = index
        customer = _resolve_customer(item, known, new_customers, new_identities)
        plan = _Planned(item, customer, -1)
        position = state_of_thread.get(item.thread)
        existing = states[position].conversation if position is not None else None
        decision = after_customer_message(existing, item.received_at, policy)
        if isinstance(decision, Open):
            state = _ConversationState(
                _new_conversation(item, decision.previous_id, policy),
                is_new=True,
                customer=customer,
            )
            state_of_thread[item.thread] = len(states)
            states.append(state)
            plan.opened = True
            state.wait = (item.received_at, "first")
        else:
            assert position is not None
            state = states[position]
            before = state.conversation
            state.conversation = decision.conversation
            state.changed = True
            plan.reopened = decision.reopened
            if state.wait is None and state.id not in waiting:
                kind = "first" if before.first_response_at is None else "next"
                state.wait = (item.received_at, kind)
                waiting.add(state.id)
        plan.conversation_key = state_of_thread[item.thread]
        plan.snapshot = state.conversation
        state.members.append(index)
        planned.append(plan)

    # 4. Write: customers, identities, conversations, threads, messages, updates.
    fresh = [p for p in planned if p.conversation_key >= 0 and p.duplicate_of is None]
    created = [s for s in states if s.is_new]
    ids = allocate(
        connection,
        {customers: len(new_customers), conversations: len(created), messages: len(fresh)},
    )
    for customer, customer_id in zip(new_customers, ids[customers], strict=True):
        customer.id = customer_id
    for state, conversation_id in zip(created, ids[conversations], strict=True):
        state.id = conversation_id
    for plan, message_id in zip(fresh, ids[messages], strict=True):
        plan.message_id = message_id
    _insert_customers(connection, new_customers)
    _insert_identities(connection, new_identities, now)
    _insert_conversations(connection, dialect, created)
    _insert_messages(connection, fresh, states)
    _update_conversations(connection, states)
    _insert_waits(connection, states)

    # 5. Results, with real ids in every snapshot.
    results: list[IngestResult] = []
    for index, plan in enumerate(planned):
        item = plan.item
        key = (item.thread.source, item.external_id)
        if key in stored and plan.duplicate_of is None and plan.conversation_key < 0:
            message, conversation = stored[key]
            results.append(IngestResult(message, conversation, duplicate=True))
            continue
        if plan.duplicate_of is not None:
            first = results[plan.duplicate_of]
            results.append(replace(first, duplicate=True, opened=False, reopened=False))
            continue
        state = states[plan.conversation_key]
        assert plan.snapshot is not None
        conversation = replace(plan.snapshot, id=state.id, customer_id=_customer_id(state.customer))
        results.append(
            IngestResult(
                _message_of(plan, conversation),
                conversation,
                opened=plan.opened,
                reopened=plan.reopened,
                auto_reply_allowed=item.auto_reply_allowed,
                language_hint=item.language,
            )
        )
        assert len(results) == index + 1
    return results


def _resolve_customer(
    item: InboundMessage,
    known: dict[tuple[str, str], int],
    new_customers: list[_NewCustomer],
    new_identities: list[tuple[_NewCustomer | int, str, str, bool]],
) -> _NewCustomer | int:
    sender = (item.thread.channel, item.sender_id)
    found = known.get(sender)
    if found is not None:
        return found
    for pending in new_customers:  # the same new sender twice in one batch
        if any((c, e) == sender for c, e, _ in pending.identities):
            return pending
    email = item.email.lower() if item.email else None
    if email and item.email_verified:
        owner = known.get((EMAIL, email))
        if owner is not None:
            new_identities.append((owner, item.thread.channel, item.sender_id, False))
            known[sender] = owner
            return owner
    customer = _NewCustomer(
        values={
            "display_name": item.sender_name[:200] or item.sender_id[:200],
            "language": item.language,
            "email": email,
            "created_at": item.received_at,
            "updated_at": item.received_at,
        },
        identities=[(item.thread.channel, item.sender_id, False)],
    )
    if email and item.email_verified and item.thread.channel != EMAIL:
        customer.identities.append((EMAIL, email, True))
    new_customers.append(customer)
    for channel, external_id, verified in customer.identities:
        new_identities.append((customer, channel, external_id, verified))
    return customer


def _new_conversation(
    item: InboundMessage, previous_id: int | None, policy: ConversationPolicy
) -> Conversation:
    at = item.received_at
    return Conversation(
        id=0,
        customer_id=0,
        origin=item.thread,
        status=ConversationStatus.QUEUED,
        team=policy.default_team,
        tier=policy.default_tier,
        priority=policy.default_priority,
        created_at=at,
        updated_at=at,
        waiting_since=at,
        last_message_at=at,
        previous_id=previous_id,
    )


def _customer_id(customer: _NewCustomer | int) -> int:
    return customer.id if isinstance(customer, _NewCustomer) else customer


def _message_of(plan: _Planned, conversation: Conversation) -> Message:
    item = plan.item
    return Message(
        id=plan.message_id,
        conversation_id=conversation.id,
        author=Author.CUSTOMER,
        author_name=item.sender_name,
        visibility=Visibility.PUBLIC,
        text=item.text,
        created_at=item.received_at,
        author_id=_customer_id(plan.customer),
        attachments=item.attachments,
        source=item.thread.source,
        external_id=item.external_id,
    )


# --- writes ------------------------------------------------------------------------------

_INSERT_CUSTOMERS = insert(customers)
_INSERT_IDENTITIES = insert(identities)
_INSERT_CONVERSATIONS = insert(conversations)
_INSERT_MESSAGES = insert(messages)
_UPDATED = (
    "status",
    "assignee_id",
    "assigned_at",
    "waiting_since",
    "resolved_at",
    "last_message_at",
    "updated_at",
    "version",
)
_UPDATE_CONVERSATIONS = (
    update(conversations)
    .where(conversations.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _UPDATED})
)


def _upsert_threads(dialect: str) -> Any:
    upsert = pg_insert(threads) if dialect == "postgresql" else sqlite_insert(threads)
    return upsert.on_conflict_do_update(
        index_elements=[threads.c.channel, threads.c.account, threads.c.thread_key],
        set_={"conversation_id": upsert.excluded.conversation_id},
    )


_UPSERT_THREADS = {name: _upsert_threads(name) for name in ("sqlite", "postgresql")}


def _insert_customers(connection: Connection, new: list[_NewCustomer]) -> None:
    if new:
        connection.execute(_INSERT_CUSTOMERS, [{"id": c.id, **c.values} for c in new])


def _insert_identities(
    connection: Connection,
    new: list[tuple[_NewCustomer | int, str, str, bool]],
    at: datetime,
) -> None:
    if not new:
        return
    connection.execute(
        _INSERT_IDENTITIES,
        [
            {
                "customer_id": _customer_id(owner),
                "channel": channel,
                "external_id": external_id,
                "verified": verified,
                "created_at": at,
            }
            for owner, channel, external_id, verified in new
        ],
    )


def _insert_conversations(
    connection: Connection, dialect: str, created: list[_ConversationState]
) -> None:
    if not created:
        return
    values = []
    for state in created:
        row = rows.conversation_values(state.conversation)
        row["id"] = state.id
        row["customer_id"] = _customer_id(state.customer)
        values.append(row)
    connection.execute(_INSERT_CONVERSATIONS, values)
    # Repoint each thread at its newest conversation.
    newest: dict[ThreadRef, int] = {s.conversation.origin: s.id for s in created}
    connection.execute(
        _UPSERT_THREADS[dialect],
        [
            {
                "channel": ref.channel,
                "account": ref.account,
                "thread_key": ref.thread_key,
                "conversation_id": conversation_id,
            }
            for ref, conversation_id in newest.items()
        ],
    )


def _insert_messages(
    connection: Connection, fresh: list[_Planned], states: list[_ConversationState]
) -> None:
    if not fresh:
        return
    values = []
    for plan in fresh:
        item = plan.item
        values.append(
            {
                "id": plan.message_id,
                "conversation_id": states[plan.conversation_key].id,
                "author": Author.CUSTOMER.value,
                "author_id": _customer_id(plan.customer),
                "author_name": item.sender_name[:200],
                "visibility": Visibility.PUBLIC.value,
                "text": item.text,
                "attachments": rows.attachments_json(item.attachments),
                "source": item.thread.source,
                "external_id": item.external_id,
                "reply_to_id": None,
                "edited": False,
                "created_at": item.received_at,
            }
        )
    connection.execute(_INSERT_MESSAGES, values)


_INSERT_WAITS = insert(waits)


def _insert_waits(connection: Connection, states: list[_ConversationState]) -> None:
    started = [s for s in states if s.wait is not None]
    if not started:
        return
    values = []
    for state in started:
        assert state.wait is not None
        started_at, kind = state.wait
        values.append(
            {
                "conversation_id": state.id,
                "customer_id": _customer_id(state.customer),
                "channel": state.conversation.origin.channel,
                "kind": kind,
                "started_at": started_at,
            }
        )
    connection.execute(_INSERT_WAITS, values)


def _update_conversations(connection: Connection, states: list[_ConversationState]) -> None:
    changed = [s for s in states if s.changed and not s.is_new]
    if not changed:
        return
    params = []
    for state in changed:
        values = rows.conversation_values(state.conversation)
        params.append({"b_id": state.id, **{f"b_{n}": values[n] for n in _UPDATED}})
    connection.execute(_UPDATE_CONVERSATIONS, params)
