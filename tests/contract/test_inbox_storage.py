"""The inbox's stores on SQLite and PostgreSQL: sessions and lock-out counts, search, merge,
unread marks, ratings and status links."""

from __future__ import annotations

from datetime import timedelta

from bridge.clock import ManualClock
from bridge.model import ThreadRef
from bridge.ports import ConversationPolicy, ConversationQuery, NewAgent
from storage.store import Storage
from tests.factories import inbound

POLICY = ConversationPolicy(reopen_window=timedelta(hours=24))


async def two_customers(storage: Storage, clock: ManualClock) -> tuple[int, int]:
    results = await storage.ingest.ingest_batch(
        [
            inbound(
                "a1",
                at=clock.now(),
                thread=ThreadRef("webchat", "default", "v1"),
                text="My INVOICE 50% off",
                sender_name="Ana Lima",
            ),
            inbound(
                "b1",
                at=clock.now(),
                thread=ThreadRef("telegram", "default", "c1"),
                text="hello",
                sender_name="Bruno",
            ),
        ],
        POLICY,
        clock.now(),
    )
    return results[0].conversation.id, results[1].conversation.id


async def test_sessions_and_failures(storage: Storage, clock: ManualClock) -> None:
    agent = await storage.agents.add_agent(
        NewAgent("Bea", "Bea@Example.com"), "t" * 64, clock.now()
    )
    await storage.sessions.set_password(agent.id, "$argon2id$hash")
    found = await storage.sessions.credentials(" bea@example.com ")
    assert found is not None
    assert found[1] == "$argon2id$hash"
    await storage.sessions.create_session(
        agent.id, "h" * 64, "csrf", clock.now(), clock.now() + timedelta(hours=1)
    )
    session = await storage.sessions.session_by_hash("h" * 64, clock.now())
    assert session is not None
    assert session.agent.id == agent.id
    assert session.csrf_secret == "csrf"
    assert (
        await storage.sessions.session_by_hash("h" * 64, clock.now() + timedelta(hours=2)) is None
    )
    await storage.sessions.set_password(agent.id, "$argon2id$other")  # ends every session
    assert await storage.sessions.session_by_hash("h" * 64, clock.now()) is None
    await storage.sessions.record_failure(["email:bea", "ip:1"], clock.now())
    await storage.sessions.record_failure(["email:bea"], clock.now())
    counts = await storage.sessions.failures_since(
        ["email:bea", "ip:1", "ip:2"], clock.now() - timedelta(minutes=1)
    )
    assert counts == {"email:bea": 2, "ip:1": 1, "ip:2": 0}
    await storage.sessions.clear_failures(["email:bea"])
    assert (await storage.sessions.failures_since(["email:bea"], clock.now()))["email:bea"] == 0


async def test_search_merge_reads_ratings_and_links(storage: Storage, clock: ManualClock) -> None:
    first, second = await two_customers(storage, clock)
    agent = await storage.agents.add_agent(
        NewAgent("Bea", "bea@example.com"), "t" * 64, clock.now()
    )
    search = storage.inbox.search
    assert [
        r.conversation.id for r in await search(ConversationQuery(text="invoice"), agent.id)
    ] == [first]
    assert [r.conversation.id for r in await search(ConversationQuery(text="50%"), agent.id)] == [
        first
    ]
    assert [r.conversation.id for r in await search(ConversationQuery(text="bruno"), agent.id)] == [
        second
    ]
    assert [
        r.conversation.id for r in await search(ConversationQuery(text=f"#{second}"), agent.id)
    ] == [second]
    assert [
        r.conversation.id for r in await search(ConversationQuery(channel="telegram"), agent.id)
    ] == [second]
    [row] = await storage.inbox.rows([first], agent.id)
    assert row.unread
    assert row.customer_name == "Ana Lima"
    assert row.preview == "My INVOICE 50% off"
    messages = await storage.conversations.messages(first)
    await storage.inbox.mark_read(agent.id, first, messages[-1].id, clock.now())
    await storage.inbox.mark_read(agent.id, first, 0, clock.now())  # never backwards
    [row] = await storage.inbox.rows([first], agent.id)
    assert not row.unread

    keep = (await storage.conversations.get_conversation(first)).customer_id
    other = (await storage.conversations.get_conversation(second)).customer_id
    merged = await storage.inbox.merge_customers(keep, other, clock.now())
    assert sorted(i.channel for i in merged.identities) == ["telegram", "webchat"]
    history = await storage.inbox.customer_history(keep, 100)
    assert [c.id for c, _ in history] == [first, second]

    await storage.feedback.rate(first, 3, None, clock.now())
    await storage.feedback.rate(first, 5, "better", clock.now())
    rating = await storage.feedback.rating_of(first)
    assert rating is not None
    assert (rating.rating, rating.comment) == (5, "better")
    assert len(await storage.feedback.ratings_since(clock.now() - timedelta(days=1))) == 1
    await storage.feedback.add_status_link(first, "s" * 64, clock.now())
    assert await storage.feedback.conversation_of_link("s" * 64) == first
    assert await storage.feedback.conversation_of_link("x" * 64) is None
    public = await storage.feedback.public_history(first, clock.now(), 10)
    assert [m.text for m in public] == ["My INVOICE 50% off"]
    template = await storage.templates.add_template(
        name="Ask",
        body="Hi {customer_name}",
        checklist=["Order"],
        language=None,
        team=None,
        now=clock.now(),
    )
    assert (await storage.templates.list_templates()) == [template]
    assert template.checklist == ("Order",)
