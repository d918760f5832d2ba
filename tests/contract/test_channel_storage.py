"""Storage for channels: cursors, links, held and withdrawn replies, edits both ways, bounces.

Every case runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bridge.clock import ManualClock
from bridge.errors import FileTooLarge, NotFound
from bridge.gate import customer_view, plan_deliveries, plan_edits
from bridge.model import Author, DeliveryState, Message, ThreadRef, Visibility
from bridge.ports import NewAgent, NewAgentMessage, SendOutcome
from storage.files import LocalFileStore
from storage.store import Storage
from tests.contract.test_storage import LEASE, POLICY
from tests.factories import inbound

TELEGRAM = ThreadRef("telegram", "default", "42")


async def customer_says(storage: Storage, clock: ManualClock, external_id: str, text: str = "hi"):
    [result] = await storage.ingest.ingest_batch(
        [inbound(external_id, at=clock.now(), text=text, thread=TELEGRAM)], POLICY, clock.now()
    )
    return result


async def agent_says(
    storage: Storage,
    clock: ManualClock,
    conversation_id: int,
    text: str,
    *,
    reply_to_id: int | None = None,
    hold: timedelta | None = None,
):
    new = NewAgentMessage(
        conversation_id=conversation_id,
        author=Author.AGENT,
        author_id=1,
        author_name="Bea",
        text=text,
        visibility=Visibility.PUBLIC,
        reply_to_id=reply_to_id,
        send_after=clock.now() + hold if hold else None,
    )
    return await storage.conversations.post_message(new, plan_deliveries, clock.now())


async def send_all(storage: Storage, clock: ManualClock) -> list:  # type: ignore[type-arg]
    claimed = await storage.outbox.claim_due(clock.now(), "me", LEASE, 100)
    await storage.outbox.record(
        [
            SendOutcome(c.delivery.id, "sent", 1, external_id=f"42:{100 + c.delivery.id}")
            for c in claimed
        ],
        clock.now(),
    )
    return claimed


def editable(_: ThreadRef) -> bool:
    return True


async def test_cursors_are_kept_per_source_and_name(storage: Storage, clock: ManualClock) -> None:
    cursors = storage.cursors
    assert await cursors.get_cursor("telegram:default", "offset") is None
    await cursors.set_cursor("telegram:default", "offset", "10", clock.now())
    await cursors.set_cursor("telegram:default", "offset", "11", clock.now())
    await cursors.set_cursor("telegram:other", "offset", "5", clock.now())
    assert await cursors.get_cursor("telegram:default", "offset") == "11"
    assert await cursors.get_cursor("telegram:other", "offset") == "5"


async def test_links_replace_and_look_up_many_keys(storage: Storage, clock: ManualClock) -> None:
    links = storage.links
    await links.put_links("email:default", "msgid", [("a@x", "t1"), ("b@x", "t1")], clock.now())
    await links.put_links("email:default", "msgid", [("b@x", "t2")], clock.now())
    await links.put_links("email:default", "subject", [("a@x", "other kind")], clock.now())
    keys = ["a@x", "b@x", "missing", *[f"k{i}" for i in range(1200)]]
    assert await links.get_links("email:default", "msgid", keys) == {"a@x": "t1", "b@x": "t2"}
    assert await links.get_links("email:other", "msgid", ["a@x"]) == {}


async def test_a_customer_edit_keeps_history_and_an_unknown_one_is_none(
    storage: Storage, clock: ManualClock
) -> None:
    first = await customer_says(storage, clock, "42:1", "helo")
    clock.advance(timedelta(seconds=5))
    found = await storage.conversations.edit_by_external(
        "telegram:default", "42:1", "hello", clock.now()
    )
    assert found is not None
    message, conversation = found
    assert message.id == first.message.id
    assert conversation.id == first.conversation.id
    assert message.text == "hello"
    assert message.edited
    assert [e.previous_text for e in message.edits] == ["helo"]
    assert (
        await storage.conversations.edit_by_external("telegram:default", "42:9", "x", clock.now())
        is None
    )
    again = await storage.conversations.message_by_external("telegram:default", "42:1")
    assert again is not None
    assert again.text == "hello"


async def test_a_reply_claims_with_the_answered_message_id(
    storage: Storage, clock: ManualClock
) -> None:
    asked = await customer_says(storage, clock, "42:7")
    await agent_says(storage, clock, asked.conversation.id, "answer", reply_to_id=asked.message.id)
    [claimed] = await storage.outbox.claim_due(clock.now(), "me", LEASE, 10)
    assert claimed.reply_to_external_id == "42:7"
    assert claimed.edit_of_external_id is None


async def test_an_edit_of_a_sent_reply_queues_an_edit_delivery(
    storage: Storage, clock: ManualClock
) -> None:
    asked = await customer_says(storage, clock, "42:1")
    posted = await agent_says(storage, clock, asked.conversation.id, "teh answer")
    [sent] = await send_all(storage, clock)

    def plan(message: Message, deliveries):  # type: ignore[no-untyped-def]
        return plan_edits(message, deliveries, editable)

    message, _, created = await storage.conversations.edit_public(
        posted.message.id, "the answer", clock.now(), plan
    )
    assert message.text == "the answer"
    [edit] = created
    assert edit.edit_of == sent.delivery.id
    [claimed] = await storage.outbox.claim_due(clock.now(), "me", LEASE, 10)
    assert claimed.delivery.id == edit.id
    assert claimed.edit_of_external_id == f"42:{100 + sent.delivery.id}"
    assert claimed.message.text == "the answer"
    # The same text again is no edit at all.
    _, _, none = await storage.conversations.edit_public(
        posted.message.id, "the answer", clock.now(), plan
    )
    assert none == ()


async def test_an_edit_of_a_reply_not_sent_yet_needs_no_edit_delivery(
    storage: Storage, clock: ManualClock
) -> None:
    asked = await customer_says(storage, clock, "42:1")
    posted = await agent_says(storage, clock, asked.conversation.id, "draft", hold=LEASE)

    def plan(message: Message, deliveries):  # type: ignore[no-untyped-def]
        return plan_edits(message, deliveries, editable)

    _, _, created = await storage.conversations.edit_public(
        posted.message.id, "final", clock.now(), plan
    )
    assert created == ()
    clock.advance(LEASE)
    [claimed] = await storage.outbox.claim_due(clock.now(), "me", LEASE, 10)
    assert claimed.message.text == "final"


async def test_a_held_reply_is_not_history_until_it_goes_and_a_withdrawn_one_never(
    storage: Storage, clock: ManualClock
) -> None:
    asked = await customer_says(storage, clock, "42:1")
    held = await agent_says(
        storage, clock, asked.conversation.id, "oops", hold=timedelta(seconds=10)
    )
    kept = await agent_says(
        storage, clock, asked.conversation.id, "later", hold=timedelta(seconds=10)
    )

    def history() -> object:
        return storage.conversations.thread_messages(TELEGRAM, 0, 100, now=clock.now())

    assert [m.text for m in await history()] == ["hi"]  # type: ignore[attr-defined]
    assert await storage.outbox.claim_due(clock.now(), "me", LEASE, 10) == []

    message, withdrawn = await storage.conversations.retract(held.message.id, clock.now())
    assert withdrawn
    assert message.retracted
    assert customer_view([message]) == ()

    clock.advance(timedelta(seconds=11))
    assert [m.text for m in await history()] == ["hi", "later"]  # type: ignore[attr-defined]
    [claimed] = await storage.outbox.claim_due(clock.now(), "me", LEASE, 10)
    assert claimed.message.id == kept.message.id
    # Too late for this one: it is being sent.
    _, withdrawn = await storage.conversations.retract(kept.message.id, clock.now())
    assert not withdrawn
    views = await storage.conversations.deliveries_for(asked.conversation.id)
    assert {v.message_id: v.state for v in views}[held.message.id] == "cancelled"


async def test_a_bounce_fails_the_sent_delivery(storage: Storage, clock: ManualClock) -> None:
    asked = await customer_says(storage, clock, "42:1")
    await agent_says(storage, clock, asked.conversation.id, "answer")
    [sent] = await send_all(storage, clock)
    external = f"42:{100 + sent.delivery.id}"
    failed = await storage.outbox.fail_by_external(
        "telegram:default", external, "550 no such user", clock.now()
    )
    assert failed is not None
    assert failed.state is DeliveryState.FAILED
    assert failed.last_error == "550 no such user"
    assert (
        await storage.outbox.fail_by_external("telegram:other", external, "x", clock.now()) is None
    )


async def test_messages_after_includes_notes_for_mirrors(
    storage: Storage, clock: ManualClock
) -> None:
    asked = await customer_says(storage, clock, "42:1")
    note = NewAgentMessage(
        asked.conversation.id, Author.AGENT, 1, "Bea", "internal", Visibility.INTERNAL
    )
    await storage.conversations.post_message(note, plan_deliveries, clock.now())
    found = await storage.conversations.messages_after(0, 10)
    assert [m.text for m in found] == ["hi", "internal"]
    assert await storage.conversations.messages_after(found[-1].id, 10) == []
    assert (await storage.conversations.get_message(found[1].id)).visibility is Visibility.INTERNAL
    with pytest.raises(NotFound):
        await storage.conversations.get_message(999)


async def test_agents_are_found_by_slack_user_and_email(
    storage: Storage, clock: ManualClock
) -> None:
    agent = await storage.agents.add_agent(
        NewAgent("Bea", "Bea@Example.com", slack_user_id="U1"), "h" * 64, clock.now()
    )
    assert await storage.agents.agent_by_slack_user("U1") == agent
    assert await storage.agents.agent_by_email("bea@example.COM") == agent
    assert await storage.agents.agent_by_slack_user("U2") is None


async def test_the_file_store_names_files_by_content(tmp_path: Path) -> None:
    files = LocalFileStore(tmp_path / "files", max_bytes=10)
    saved = await files.save(b"hello", name="../../etc/passwd", content_type="")
    assert saved.name == "passwd"
    assert saved.content_type == "application/octet-stream"
    assert saved.size == 5
    assert await files.read(saved.storage_key) == b"hello"
    assert (await files.save(b"hello", name="b", content_type="text/plain")).storage_key == (
        saved.storage_key
    )
    with pytest.raises(FileTooLarge):
        await files.save(b"x" * 11, name="big", content_type="")
    with pytest.raises(NotFound):
        await files.read("../" + saved.storage_key)
    with pytest.raises(NotFound):
        await files.read("0" * 64)
