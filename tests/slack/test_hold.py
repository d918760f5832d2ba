"""Replies from Slack are held: deleting withdraws them, editing changes what goes out."""

from __future__ import annotations

from pathlib import Path

from bridge.model import Author, DeliveryState, Visibility
from tests.slack.signing import changed_event, deleted_event
from tests.slack.support import SUPPORT, SlackBridge, Visitor, slack_bridge


async def opened(s: SlackBridge) -> tuple[Visitor, int, str]:
    await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
    visitor = await s.visitor("Ana Lima")
    await visitor.say("help", "c1")
    conversation = await s.only_conversation()
    return visitor, conversation.id, await s.root_of(conversation.id)


async def test_deleting_a_held_reply_in_slack_withdraws_it(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path, hold_seconds=60) as s:
        visitor, conversation_id, root_ts = await opened(s)
        ts = await s.say_in_thread(root_ts, "U0BEA", "Oops, wrong customer")
        await s.settle()
        event = deleted_event(SUPPORT, ts, "U0BEA", thread_ts=root_ts)
        assert await s.send_event(event) == 200
        [told] = await s.wait(lambda: s.fake.ephemeral)
        assert "Withdrawn" in told["text"]
        [reply] = [m for m in await s.messages(conversation_id) if m.author is Author.AGENT]
        assert reply.retracted
        [delivery] = await s.bridge.runtime.storage.conversations.deliveries_for(conversation_id)
        assert delivery.state == DeliveryState.CANCELLED.value
        assert visitor.texts() == ["help"]
        await visitor.ws.close()


async def test_editing_a_held_reply_changes_what_the_customer_gets(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path, hold_seconds=2) as s:
        visitor, conversation_id, root_ts = await opened(s)
        ts = await s.say_in_thread(root_ts, "U0BEA", "Your refund is on its way")
        event = changed_event(
            SUPPORT, ts, "U0BEA", "Your refund is on its way (3 days)", thread_ts=root_ts
        )
        assert await s.send_event(event) == 200
        frame = await visitor.next_message(author="agent")
        assert frame["text"] == "Your refund is on its way (3 days)"
        await s.wait(lambda: "white_check_mark" in s.fake.reactions_on(SUPPORT, ts))
        [reply] = [m for m in await s.messages(conversation_id) if m.author is Author.AGENT]
        assert reply.text == "Your refund is on its way (3 days)"
        assert [e.previous_text for e in reply.edits] == ["Your refund is on its way"]
        assert visitor.texts() == ["help", "Your refund is on its way (3 days)"]
        await visitor.ws.close()


async def test_a_held_reply_edited_into_a_note_is_withdrawn_and_kept_as_a_note(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path, hold_seconds=60) as s:
        visitor, conversation_id, root_ts = await opened(s)
        ts = await s.say_in_thread(root_ts, "U0BEA", "they are a reseller, discount ok")
        await s.settle()
        event = changed_event(
            SUPPORT, ts, "U0BEA", "note: they are a reseller, discount ok", thread_ts=root_ts
        )
        assert await s.send_event(event) == 200
        await s.wait(lambda: s.fake.reactions_on(SUPPORT, ts) == ["lock"])
        await s.settle()
        agent_messages = [
            (m.visibility, m.retracted, m.text)
            for m in await s.messages(conversation_id)
            if m.author is Author.AGENT
        ]
        assert agent_messages == [
            (Visibility.PUBLIC, True, "they are a reseller, discount ok"),
            (Visibility.INTERNAL, False, "they are a reseller, discount ok"),
        ]
        assert await s.delivered_texts(conversation_id) == ["they are a reseller, discount ok"]
        [delivery] = await s.bridge.runtime.storage.conversations.deliveries_for(conversation_id)
        assert delivery.state == DeliveryState.CANCELLED.value
        await visitor.ws.close()


async def test_too_late_to_withdraw_once_sent_and_notes_stay_notes(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path, hold_seconds=0) as s:
        visitor, conversation_id, root_ts = await opened(s)
        ts = await s.say_in_thread(root_ts, "U0BEA", "Done!")
        await visitor.next_message(author="agent", text="Done!")
        await s.wait(lambda: "white_check_mark" in s.fake.reactions_on(SUPPORT, ts))
        assert await s.send_event(deleted_event(SUPPORT, ts, "U0BEA", thread_ts=root_ts)) == 200
        [told] = await s.wait(lambda: s.fake.ephemeral)
        assert "Too late" in told["text"]

        # A note edited without its prefix stays internal.
        note_ts = await s.say_in_thread(root_ts, "U0BEA", "note: vip customer")
        await s.wait(lambda: s.fake.reactions_on(SUPPORT, note_ts) == ["lock"])
        edit = changed_event(SUPPORT, note_ts, "U0BEA", "vip customer, be nice", thread_ts=root_ts)
        assert await s.send_event(edit) == 200
        await s.settle()
        notes = [
            m.text for m in await s.messages(conversation_id) if m.visibility is Visibility.INTERNAL
        ]
        assert notes == ["vip customer, be nice"]
        assert await s.delivered_texts(conversation_id) == ["Done!"]
        assert visitor.texts() == ["help", "Done!"]
        await visitor.ws.close()
