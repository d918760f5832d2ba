"""Agents work a web chat conversation from its Slack thread: the mirror, replies, notes."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.model import Author, Visibility
from tests.slack.signing import message_event
from tests.slack.support import SUPPORT, slack_bridge

NOTE_FORMS = [
    "note: the refund is approved internally",
    "private: customer is a reseller",
    ";; check the ledger first",
    "\\\\ escalate later maybe",
    "<@U0CARL> can you double-check this?",
]


async def test_a_web_chat_conversation_is_answered_from_its_slack_thread(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path, acknowledgements=True) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("My order #77 never arrived", "c1")
        ack = await visitor.next_message(author="bot")  # the router's acknowledgement
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)

        # The root names customer, channel, reference, status and the due time; buttons.
        root = s.fake.message(SUPPORT, root_ts)
        shown = json.dumps(root.args["blocks"], ensure_ascii=False)
        assert "*Ana Lima* · Web chat · *#" in shown
        assert "Waiting" in shown
        assert "Due" in shown
        assert root.args["unfurl_links"] is False
        assert root.args["unfurl_media"] is False
        # The customer's message and the acknowledgement are in the thread.
        await s.wait(lambda: len(s.fake.in_thread(SUPPORT, root_ts)) >= 2)
        first = s.fake.in_thread(SUPPORT, root_ts)[0]
        assert first.text == "My order #77 never arrived"
        assert first.args["username"] == "Ana Lima (Web chat)"
        assert ack["text"] in [p.text for p in s.fake.in_thread(SUPPORT, root_ts)]

        # Bea answers in the thread; the visitor gets it on the web chat.
        ts = await s.say_in_thread(root_ts, "U0BEA", "Sorry Ana, I'm resending it today.")
        reply = await visitor.next_message(author="agent")
        assert reply["text"] == "Sorry Ana, I'm resending it today."
        assert reply["author_name"] == "Bea"
        # ✅ once delivered; the reply was not posted again by the mirror.
        await s.wait(lambda: "white_check_mark" in s.fake.reactions_on(SUPPORT, ts))
        await s.settle()
        posted_texts = [p.text for p in s.fake.in_thread(SUPPORT, root_ts)]
        assert "Sorry Ana, I&#39;m resending it today." not in posted_texts
        assert "Sorry Ana, I'm resending it today." not in posted_texts
        stored = [m for m in await s.messages(conversation.id) if m.author is Author.AGENT]
        assert [(m.text, m.external_id) for m in stored] == [
            ("Sorry Ana, I'm resending it today.", f"slack:T0TEAM:{ts}")
        ]
        await visitor.ws.close()


async def test_replies_from_the_inbox_are_mirrored_and_notes_marked_internal(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path) as s:
        visitor = await s.visitor("Ana Lima")
        await visitor.say("Hello?", "c1")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        url = s.bridge.url(f"/api/conversations/{conversation.id}/messages")
        for body in (
            {"text": "checking <the> logs", "internal": True},
            {"text": "Hi Ana, one moment", "internal": False},
        ):
            async with s.bridge.http.post(url, json=body, headers=s.bridge.auth) as response:
                assert response.status == 201, await response.text()
        await visitor.next_message(author="agent", text="Hi Ana, one moment")
        await s.wait(lambda: len(s.fake.in_thread(SUPPORT, root_ts)) == 3)
        _, note, reply = s.fake.in_thread(SUPPORT, root_ts)
        assert note.text == "🔒 checking &lt;the&gt; logs"
        assert note.args["username"] == "Bea Santos (internal note)"
        await s.wait(lambda: s.fake.reactions_on(SUPPORT, note.ts) == ["lock"])
        assert (reply.text, reply.args["username"]) == ("Hi Ana, one moment", "Bea Santos (agent)")
        await s.wait(lambda: s.fake.reactions_on(SUPPORT, reply.ts) == ["white_check_mark"])
        await visitor.ws.close()


async def test_no_note_form_ever_reaches_the_customer(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("help", "c1")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        note_ts = [await s.say_in_thread(root_ts, "U0BEA", text) for text in NOTE_FORMS]
        await s.say_in_thread(root_ts, "U0BEA", "reply: the public answer")
        await visitor.next_message(author="agent", text="the public answer")
        await s.settle()

        messages = await s.messages(conversation.id)
        notes = [m for m in messages if m.visibility is Visibility.INTERNAL]
        assert [m.text for m in notes] == [
            "the refund is approved internally",
            "customer is a reseller",
            "check the ledger first",
            "escalate later maybe",
            "@Carl can you double-check this?".replace("Carl", "U0CARL"),
        ]
        assert await s.delivered_texts(conversation.id) == ["the public answer"]
        assert visitor.texts() == ["help", "the public answer"]
        for ts in note_ts:
            assert s.fake.reactions_on(SUPPORT, ts) == ["lock"]
        await visitor.ws.close()


async def test_with_default_visibility_note_only_reply_prefix_goes_out(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path, default_visibility="note") as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("help", "c1")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        await s.say_in_thread(root_ts, "U0BEA", "thinking out loud")
        await s.say_in_thread(root_ts, "U0BEA", "Reply: Here is the fix")
        await visitor.next_message(author="agent", text="Here is the fix")
        await s.settle()
        assert await s.delivered_texts(conversation.id) == ["Here is the fix"]
        internal = [
            m.text for m in await s.messages(conversation.id) if m.visibility is Visibility.INTERNAL
        ]
        assert internal == ["thinking out loud"]
        await visitor.ws.close()


async def test_an_unmapped_slack_user_is_told_and_nothing_is_sent(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user("U0STRANGER", "Sam Stranger", email="sam@example.com")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("help", "c1")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        await s.say_in_thread(root_ts, "U0STRANGER", "I'll just answer this")
        [told] = await s.wait(lambda: s.fake.ephemeral)
        assert told["user"] == "U0STRANGER"
        assert told["thread_ts"] == root_ts
        assert "not an agent here" in told["text"]
        await s.settle()
        assert [m.author for m in await s.messages(conversation.id)] == [Author.CUSTOMER]
        await visitor.ws.close()


async def test_an_agent_is_found_by_a_confirmed_profile_email(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com", mapped=False)
        s.fake.add_user("U0FAKE", "Not Bea", email="bea.s@example.com", confirmed=False)
        visitor = await s.visitor("Ana Lima")
        await visitor.say("help", "c1")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        await s.say_in_thread(root_ts, "U0FAKE", "pretending")
        await s.say_in_thread(root_ts, "U0BEA", "Hello from Bea")
        await visitor.next_message(author="agent", text="Hello from Bea")
        await s.settle()
        assert await s.delivered_texts(conversation.id) == ["Hello from Bea"]
        assert [e["user"] for e in s.fake.ephemeral] == ["U0FAKE"]
        await visitor.ws.close()


async def test_top_level_messages_and_foreign_threads_in_the_support_channel_are_ignored(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        assert await s.send_event(message_event(SUPPORT, "U0BEA", "morning all")) == 200
        await s.say_in_thread("1799999999.000001", "U0BEA", "in someone else's thread")
        await s.settle()
        page = await s.bridge.runtime.storage.conversations.list_conversations()
        assert page.items == ()
        assert s.fake.ephemeral == []


async def test_a_team_can_have_its_threads_in_its_own_channel(tmp_path: Path) -> None:
    async with slack_bridge(
        tmp_path,
        prepare=lambda fake: fake.add_channel("C0BILLING", "billing"),
        routing={"default_team": "billing"},
        team_channels=["billing=C0BILLING"],
    ) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("invoice question", "c1")
        conversation = await s.only_conversation()
        [root] = await s.wait(lambda: s.fake.roots("C0BILLING"))
        assert s.fake.roots(SUPPORT) == []
        await s.settle()
        event = message_event(
            "C0BILLING", "U0BEA", "Sent you a corrected invoice", thread_ts=root.ts
        )
        assert await s.send_event(event) == 200
        await visitor.next_message(author="agent", text="Sent you a corrected invoice")
        assert conversation.team == "billing"
        await visitor.ws.close()
