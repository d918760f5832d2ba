"""The storage contract: every case runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, text, update
from sqlalchemy.exc import DBAPIError

from bridge.clock import ManualClock
from bridge.errors import Conflict, InternalMessageRefused, NotFound
from bridge.gate import PlannedDelivery, plan_deliveries
from bridge.model import (
    Author,
    ConversationStatus,
    DeliveryState,
    Message,
    Role,
    ThreadRef,
    Visibility,
)
from bridge.ports import ConversationPolicy, NewAgent, NewAgentMessage, SendOutcome
from storage.migrate import SchemaOutdated
from storage.store import Storage
from storage.tables import deliveries, messages, metadata
from tests.factories import WEBCHAT, inbound

POLICY = ConversationPolicy(reopen_window=timedelta(hours=24))
LEASE = timedelta(seconds=60)


async def ingest(storage: Storage, clock: ManualClock, *items: object) -> list:  # type: ignore[type-arg]
    return await storage.ingest.ingest_batch(list(items), POLICY, clock.now())  # type: ignore[arg-type]


async def reply(
    storage: Storage,
    conversation_id: int,
    text: str = "hi",
    *,
    internal: bool = False,
    key: str | None = None,
    at=None,
):
    new = NewAgentMessage(
        conversation_id=conversation_id,
        author=Author.AGENT,
        author_id=1,
        author_name="Bea",
        text=text,
        visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
        client_key=key,
    )
    return await storage.conversations.post_message(new, plan_deliveries, at)


# --- schema ----------------------------------------------------------------------------


async def test_migrations_build_exactly_the_declared_schema(storage: Storage) -> None:
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), metadata)

    assert await storage.database.run_read(diff) == []


# --- ingest ------------------------------------------------------------------------------


async def test_first_message_opens_a_queued_conversation(
    storage: Storage, clock: ManualClock
) -> None:
    [result] = await ingest(storage, clock, inbound("m1", at=clock.now(), language="pt"))
    assert result.opened
    assert not result.duplicate
    conversation = result.conversation
    assert conversation.status is ConversationStatus.QUEUED
    assert conversation.waiting_since == clock.now()
    assert conversation.origin == WEBCHAT
    assert result.message.conversation_id == conversation.id
    assert result.message.visibility is Visibility.PUBLIC
    stored = await storage.conversations.get_conversation(conversation.id)
    assert stored == conversation
    customer = await storage.conversations.get_customer(conversation.customer_id)
    assert customer.display_name == "Ana"
    assert customer.language == "pt"
    assert [(i.channel, i.external_id) for i in customer.identities] == [("webchat", "visitor-1")]


async def test_the_same_external_id_twice_is_stored_once(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    clock.advance(5)
    [again] = await ingest(storage, clock, inbound("m1", at=clock.now(), text="resent"))
    assert again.duplicate
    assert again.message.id == first.message.id
    assert again.message.text == "hello"
    history = await storage.conversations.messages(first.conversation.id)
    assert [m.external_id for m in history] == ["m1"]


async def test_a_duplicate_within_one_batch_is_stored_once(
    storage: Storage, clock: ManualClock
) -> None:
    a, b, c = await ingest(
        storage,
        clock,
        inbound("m1", at=clock.now()),
        inbound("m1", at=clock.now()),
        inbound("m2", at=clock.now()),
    )
    assert not a.duplicate
    assert b.duplicate
    assert not c.duplicate
    assert b.message.id == a.message.id
    assert c.conversation.id == a.conversation.id
    assert len(await storage.conversations.messages(a.conversation.id)) == 2


async def test_the_same_external_id_on_another_account_is_a_different_message(
    storage: Storage, clock: ManualClock
) -> None:
    other = ThreadRef("webchat", "second-site", "visitor-1")
    a, b = await ingest(
        storage, clock, inbound("m1", at=clock.now()), inbound("m1", at=clock.now(), thread=other)
    )
    assert not b.duplicate
    assert a.conversation.id != b.conversation.id


async def test_messages_of_a_thread_join_its_open_conversation(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    clock.advance(60)
    [second] = await ingest(storage, clock, inbound("m2", at=clock.now()))
    assert second.conversation.id == first.conversation.id
    assert not second.opened
    # Still waiting since the first unanswered message.
    assert second.conversation.waiting_since == first.conversation.waiting_since
    assert second.conversation.last_message_at == clock.now()


async def test_different_senders_get_different_customers_and_conversations(
    storage: Storage, clock: ManualClock
) -> None:
    one = ThreadRef("webchat", "default", "v1")
    two = ThreadRef("webchat", "default", "v2")
    a, b, a2 = await ingest(
        storage,
        clock,
        inbound("a", at=clock.now(), thread=one),
        inbound("b", at=clock.now(), thread=two),
        inbound("a2", at=clock.now(), thread=one),
    )
    assert a.conversation.customer_id != b.conversation.customer_id
    assert a.conversation.id != b.conversation.id
    assert a2.conversation.id == a.conversation.id
    assert a2.conversation.customer_id == a.conversation.customer_id


async def test_a_message_soon_after_resolve_reopens(storage: Storage, clock: ManualClock) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    await storage.conversations.set_status(
        first.conversation.id, ConversationStatus.RESOLVED, clock.now()
    )
    clock.advance(timedelta(hours=2))
    [again] = await ingest(storage, clock, inbound("m2", at=clock.now()))
    assert again.reopened
    assert not again.opened
    assert again.conversation.id == first.conversation.id
    assert again.conversation.status is ConversationStatus.QUEUED
    assert again.conversation.waiting_since == clock.now()
    assert again.conversation.resolved_at is None


async def test_a_message_long_after_resolve_starts_a_linked_conversation(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    await storage.conversations.set_status(
        first.conversation.id, ConversationStatus.RESOLVED, clock.now()
    )
    clock.advance(timedelta(days=3))
    [later] = await ingest(storage, clock, inbound("m2", at=clock.now()))
    assert later.opened
    assert later.conversation.id != first.conversation.id
    assert later.conversation.previous_id == first.conversation.id
    assert later.conversation.customer_id == first.conversation.customer_id
    current = await storage.conversations.current_conversation(WEBCHAT)
    assert current is not None
    assert current.id == later.conversation.id


async def test_a_customer_reply_takes_a_pending_conversation_back_to_the_queue(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    await reply(storage, first.conversation.id, at=clock.now())
    await storage.conversations.set_status(
        first.conversation.id, ConversationStatus.PENDING_CUSTOMER, clock.now()
    )
    clock.advance(30)
    [second] = await ingest(storage, clock, inbound("m2", at=clock.now()))
    assert second.conversation.status is ConversationStatus.QUEUED
    assert second.conversation.assignee_id is None
    # The default policy keeps the place in line the conversation had from its start.
    assert second.conversation.waiting_since == first.conversation.created_at


async def test_a_verified_email_links_identities_across_channels(
    storage: Storage, clock: ManualClock
) -> None:
    telegram = ThreadRef("telegram", "bot1", "chat-9")
    mail = ThreadRef("email", "support@example.com", "<root@example.com>")
    [t] = await ingest(
        storage,
        clock,
        inbound(
            "t1",
            at=clock.now(),
            thread=telegram,
            sender_id="user-9",
            email="Ana@Example.com",
            email_verified=True,
        ),
    )
    [e] = await ingest(
        storage,
        clock,
        inbound(
            "e1",
            at=clock.now(),
            thread=mail,
            sender_id="ana@example.com",
            email="ana@example.com",
            email_verified=True,
        ),
    )
    assert e.conversation.customer_id == t.conversation.customer_id
    assert e.conversation.id != t.conversation.id


async def test_an_unverified_email_never_links_customers(
    storage: Storage, clock: ManualClock
) -> None:
    telegram = ThreadRef("telegram", "bot1", "chat-9")
    [t] = await ingest(
        storage,
        clock,
        inbound(
            "t1",
            at=clock.now(),
            thread=telegram,
            sender_id="u9",
            email="a@x.org",
            email_verified=True,
        ),
    )
    [w] = await ingest(
        storage, clock, inbound("w1", at=clock.now(), email="a@x.org", email_verified=False)
    )
    assert w.conversation.customer_id != t.conversation.customer_id


# --- agent messages and the outbox --------------------------------------------------------


async def test_a_public_reply_gets_one_delivery_and_answers_the_customer(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    clock.advance(90)
    posted = await reply(storage, first.conversation.id, "on it", at=clock.now())
    assert [d.destination for d in posted.deliveries] == [WEBCHAT]
    assert posted.deliveries[0].state is DeliveryState.PENDING
    assert posted.conversation.waiting_since is None
    assert posted.conversation.first_response_at == clock.now()
    stored = await storage.conversations.get_conversation(first.conversation.id)
    assert stored.first_response_at == clock.now()


async def test_an_internal_note_gets_no_delivery_and_answers_nobody(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    posted = await reply(
        storage, first.conversation.id, "VIP, be nice", internal=True, at=clock.now()
    )
    assert posted.deliveries == ()
    assert posted.message.visibility is Visibility.INTERNAL
    assert posted.conversation.waiting_since == first.conversation.waiting_since
    assert await storage.conversations.deliveries_for(first.conversation.id) == []
    assert await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10) == []


async def test_a_repeated_idempotency_key_posts_once(storage: Storage, clock: ManualClock) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    one = await reply(storage, first.conversation.id, key="k1", at=clock.now())
    two = await reply(storage, first.conversation.id, key="k1", at=clock.now())
    assert two.duplicate
    assert two.message.id == one.message.id
    assert [d.id for d in two.deliveries] == [d.id for d in one.deliveries]
    assert len(await storage.conversations.deliveries_for(first.conversation.id)) == 1


async def test_posting_to_a_missing_conversation_is_not_found(
    storage: Storage, clock: ManualClock
) -> None:
    with pytest.raises(NotFound):
        await reply(storage, 999, at=clock.now())


async def test_the_store_refuses_deliveries_not_made_by_the_gate(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))

    def forged(message: Message, conversation):
        return (object(),)

    with pytest.raises(TypeError):
        await storage.conversations.post_message(
            NewAgentMessage(first.conversation.id, Author.AGENT, 1, "Bea", "x", Visibility.PUBLIC),
            forged,  # type: ignore[arg-type]
            clock.now(),
        )
    # And nothing of that transaction remains.
    assert len(await storage.conversations.messages(first.conversation.id)) == 1


async def test_the_database_refuses_a_delivery_for_an_internal_message(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    note = await reply(storage, first.conversation.id, "secret", internal=True, at=clock.now())
    with pytest.raises(DBAPIError, match="never delivered to customers"):
        await storage.database.run_write(
            lambda connection: connection.execute(
                insert(deliveries).values(
                    message_id=note.message.id,
                    conversation_id=first.conversation.id,
                    channel="webchat",
                    account="default",
                    thread_key="visitor-1",
                    state="pending",
                    attempts=0,
                    next_attempt_at=clock.now(),
                    idempotency_key="forged",
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )
        )
    with pytest.raises(DBAPIError, match="visibility never changes"):
        await storage.database.run_write(
            lambda connection: connection.execute(
                update(messages).where(messages.c.id == note.message.id).values(visibility="public")
            )
        )
    assert await storage.conversations.deliveries_for(first.conversation.id) == []


def test_planned_deliveries_cannot_be_forged() -> None:
    with pytest.raises(InternalMessageRefused):
        PlannedDelivery(1, 1, WEBCHAT, "k")


async def test_claims_follow_conversation_order_and_leases(
    storage: Storage, clock: ManualClock
) -> None:
    one = ThreadRef("webchat", "default", "v1")
    two = ThreadRef("webchat", "default", "v2")
    a, b = await ingest(
        storage,
        clock,
        inbound("a", at=clock.now(), thread=one),
        inbound("b", at=clock.now(), thread=two),
    )
    a1 = await reply(storage, a.conversation.id, "a1", at=clock.now())
    a2 = await reply(storage, a.conversation.id, "a2", at=clock.now())
    b1 = await reply(storage, b.conversation.id, "b1", at=clock.now())

    claimed = await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10)
    # One per conversation: a2 waits for a1.
    assert sorted(c.delivery.id for c in claimed) == sorted(
        [a1.deliveries[0].id, b1.deliveries[0].id]
    )
    assert {c.message.text for c in claimed} == {"a1", "b1"}
    # Leased: nobody else gets them, and a2 is still behind a1.
    assert await storage.outbox.claim_due(clock.now(), "d2", LEASE, 10) == []

    await storage.outbox.record(
        [SendOutcome(a1.deliveries[0].id, "sent", 1, external_id="x1")], clock.now()
    )
    [next_claim] = await storage.outbox.claim_due(clock.now(), "d2", LEASE, 10)
    assert next_claim.delivery.id == a2.deliveries[0].id

    # b1's holder died: once the lease runs out, another dispatcher takes it.
    clock.advance(LEASE + timedelta(seconds=1))
    retaken = await storage.outbox.claim_due(clock.now(), "d3", LEASE, 10)
    assert {c.delivery.id for c in retaken} == {b1.deliveries[0].id, a2.deliveries[0].id}


async def test_a_retry_waits_and_a_failure_unblocks_the_next(
    storage: Storage, clock: ManualClock
) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    r1 = await reply(storage, first.conversation.id, "r1", at=clock.now())
    r2 = await reply(storage, first.conversation.id, "r2", at=clock.now())
    [c] = await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10)
    later = clock.now() + timedelta(seconds=30)
    await storage.outbox.record(
        [SendOutcome(c.delivery.id, "retry", 1, error="503", next_attempt_at=later)], clock.now()
    )
    assert await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10) == []
    assert await storage.outbox.next_due_at() == later
    assert await storage.outbox.pending_count(clock.now(), "d1") == 0
    clock.set(later)
    [again] = await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10)
    assert again.delivery.id == r1.deliveries[0].id
    assert again.delivery.attempts == 1
    await storage.outbox.record(
        [SendOutcome(again.delivery.id, "failed", 2, error="bot was blocked")], clock.now()
    )
    [following] = await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10)
    assert following.delivery.id == r2.deliveries[0].id
    views = await storage.conversations.deliveries_for(first.conversation.id)
    assert [(v.state, v.last_error) for v in views] == [
        ("failed", "bot was blocked"),
        ("pending", None),
    ]


async def test_release_gives_claims_back_at_once(storage: Storage, clock: ManualClock) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    r1 = await reply(storage, first.conversation.id, at=clock.now())
    await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10)
    await storage.outbox.release([r1.deliveries[0].id], "someone-else")
    assert await storage.outbox.claim_due(clock.now(), "d2", LEASE, 10) == []
    await storage.outbox.release([r1.deliveries[0].id], "d1")
    assert len(await storage.outbox.claim_due(clock.now(), "d2", LEASE, 10)) == 1


async def test_concurrent_claimers_never_share_a_delivery(
    storage: Storage, clock: ManualClock
) -> None:
    expected = set()
    for n in range(40):
        thread = ThreadRef("webchat", "default", f"v{n}")
        [r] = await ingest(storage, clock, inbound(f"m{n}", at=clock.now(), thread=thread))
        posted = await reply(storage, r.conversation.id, at=clock.now())
        expected.add(posted.deliveries[0].id)
    batches = await asyncio.gather(
        *(storage.outbox.claim_due(clock.now(), f"d{i}", LEASE, 7) for i in range(8))
    )
    ids = [c.delivery.id for batch in batches for c in batch]
    assert len(ids) == len(set(ids))
    assert set(ids) <= expected


async def test_edits_keep_their_history(storage: Storage, clock: ManualClock) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now(), text="my oder is late"))
    clock.advance(30)
    edited = await storage.conversations.edit_message(
        first.message.id, "my order is late", clock.now()
    )
    assert edited.text == "my order is late"
    assert edited.edited
    assert [(e.previous_text, e.edited_at) for e in edited.edits] == [
        ("my oder is late", clock.now())
    ]
    clock.advance(30)
    again = await storage.conversations.edit_message(
        first.message.id, "my order #9 is late", clock.now()
    )
    same = await storage.conversations.edit_message(
        first.message.id, "my order #9 is late", clock.now()
    )
    assert [e.previous_text for e in again.edits] == ["my oder is late", "my order is late"]
    assert same.edits == again.edits
    [stored] = await storage.conversations.messages(first.conversation.id)
    assert stored.text == "my order #9 is late"
    assert [e.previous_text for e in stored.edits] == ["my oder is late", "my order is late"]
    with pytest.raises(NotFound):
        await storage.conversations.edit_message(999, "x", clock.now())


# --- customer-facing history ---------------------------------------------------------------


async def test_thread_history_leaves_out_notes(storage: Storage, clock: ManualClock) -> None:
    [first] = await ingest(storage, clock, inbound("m1", at=clock.now()))
    await reply(storage, first.conversation.id, "public answer", at=clock.now())
    await reply(storage, first.conversation.id, "internal only", internal=True, at=clock.now())
    await storage.conversations.set_status(
        first.conversation.id, ConversationStatus.RESOLVED, clock.now()
    )
    clock.advance(timedelta(days=5))
    [later] = await ingest(storage, clock, inbound("m2", at=clock.now(), text="me again"))
    history = await storage.conversations.thread_messages(WEBCHAT, 0, 100, now=clock.now())
    assert [m.text for m in history] == ["hello", "public answer", "me again"]
    assert {m.conversation_id for m in history} == {first.conversation.id, later.conversation.id}
    after = await storage.conversations.thread_messages(
        WEBCHAT, history[0].id, 100, now=clock.now()
    )
    assert [m.text for m in after] == ["public answer", "me again"]


# --- agents, visitors, listing -------------------------------------------------------------


async def test_agents_are_found_by_token_hash_only(storage: Storage, clock: ManualClock) -> None:
    agent = await storage.agents.add_agent(
        NewAgent("Bea", "Bea@Example.com", role=Role.SUPERVISOR, teams=("billing",)),
        "h" * 64,
        clock.now(),
    )
    assert agent.email == "bea@example.com"
    assert agent.is_supervisor
    assert await storage.agents.agent_by_token_hash("h" * 64) == agent
    assert await storage.agents.agent_by_token_hash("x" * 64) is None
    assert await storage.agents.get_agent(agent.id) == agent
    with pytest.raises(Conflict):
        await storage.agents.add_agent(NewAgent("B2", "bea@example.com"), "y" * 64, clock.now())
    with pytest.raises(NotFound):
        await storage.agents.get_agent(agent.id + 100)


async def test_visitor_tokens_expire_and_slide(storage: Storage, clock: ManualClock) -> None:
    thread = ThreadRef("webchat", "default", "v-abc")
    visitor = await storage.visitors.create_visitor(
        thread,
        display_name="Guest",
        email="g@x.org",
        language="ru",
        token_hash="t" * 64,
        expires_at=clock.now() + timedelta(days=1),
        now=clock.now(),
    )
    found = await storage.visitors.visitor_by_token_hash("t" * 64, clock.now())
    assert found == visitor
    clock.advance(timedelta(days=2))
    assert await storage.visitors.visitor_by_token_hash("t" * 64, clock.now()) is None
    await storage.visitors.touch_visitor("t" * 64, clock.now() + timedelta(days=1))
    assert await storage.visitors.visitor_by_token_hash("t" * 64, clock.now()) is not None
    # The visitor's first message lands on the customer made with the session.
    [result] = await ingest(storage, clock, inbound("m1", at=clock.now(), thread=thread))
    assert result.conversation.customer_id == visitor.customer_id


async def test_a_visitors_time_zone_is_the_customers(storage: Storage, clock: ManualClock) -> None:
    visitor = await storage.visitors.create_visitor(
        ThreadRef("webchat", "default", "v-tz"),
        display_name="Kenji",
        email=None,
        language="en",
        token_hash="z" * 64,
        expires_at=clock.now() + timedelta(days=1),
        now=clock.now(),
        timezone="Asia/Tokyo",
    )
    customer = await storage.conversations.get_customer(visitor.customer_id)
    assert customer.timezone == "Asia/Tokyo"


async def test_listing_pages_newest_first(storage: Storage, clock: ManualClock) -> None:
    for n in range(5):
        thread = ThreadRef("webchat", "default", f"v{n}")
        await ingest(storage, clock, inbound(f"m{n}", at=clock.now(), thread=thread))
    page = await storage.conversations.list_conversations(limit=2)
    assert len(page.items) == 2
    assert page.next_before == page.items[-1].id
    rest = await storage.conversations.list_conversations(limit=10, before=page.next_before)
    ids = [c.id for c in page.items + rest.items]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 5
    assert rest.next_before is None
    queued = await storage.conversations.list_conversations(status=ConversationStatus.RESOLVED)
    assert queued.items == ()


async def test_ping_and_checkpoint(storage: Storage, clock: ManualClock) -> None:
    await ingest(storage, clock, inbound("m1", at=clock.now()))
    await storage.database.checkpoint()  # SQLite: WAL back into the file; PostgreSQL: nothing
    await storage.database.ping()
    assert await storage.database.run_read(lambda c: c.execute(text("SELECT 1")).scalar()) == 1


async def test_an_outdated_schema_is_refused_with_what_to_do(storage: Storage) -> None:
    await storage.database.run_write(
        lambda c: c.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    )
    with pytest.raises(SchemaOutdated, match="run `bridge migrate`"):
        await storage.prepare(auto_migrate=False)


def test_sqlite_datetimes_are_written_as_sqlalchemy_writes_them() -> None:
    """The column's own SQLite processor must produce SQLAlchemy's text exactly: stored rows
    and bound values are compared as text in SQL."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy.dialects import sqlite
    from sqlalchemy.dialects.sqlite import DATETIME

    from storage.tables import UTCDateTime

    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = DATETIME().bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    for value in (
        datetime(2026, 11, 23, 18, 0, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 6, 30, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=3))),
    ):
        assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))
