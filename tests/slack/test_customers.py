"""Customers writing from Slack: a DM to the app, a thread in a shared channel."""

from __future__ import annotations

from pathlib import Path

from bridge.model import Author
from tests.slack.signing import changed_event, message_event
from tests.slack.support import SHARED, SUPPORT, slack_bridge


async def test_a_customer_in_a_dm_is_answered_from_the_inbox_api(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user("U0CUST", "Ana Lima", email="ana@acme.example")
        dm = message_event("D0ANA", "U0CUST", "Is my &lt;order&gt; shipped?", channel_type="im")
        assert await s.send_event(dm) == 200
        await s.settle()
        conversation = await s.only_conversation()
        assert (conversation.origin.channel, conversation.origin.thread_key) == ("slack", "D0ANA")
        [message] = await s.messages(conversation.id)
        assert (message.text, message.author_name) == ("Is my <order> shipped?", "Ana Lima")
        customer = await s.bridge.runtime.storage.conversations.get_customer(
            conversation.customer_id
        )
        assert customer.email == "ana@acme.example"

        # Mirrored into the agents' thread under the customer's name.
        root_ts = await s.root_of(conversation.id)
        [mirrored] = s.fake.in_thread(SUPPORT, root_ts)
        assert mirrored.args["username"] == "Ana Lima (Slack)"

        url = s.bridge.url(f"/api/conversations/{conversation.id}/messages")
        body = {"text": "Yes, it left today <3", "internal": False}
        async with s.bridge.http.post(url, json=body, headers=s.bridge.auth) as response:
            assert response.status == 201
        [answer] = await s.wait(lambda: s.fake.roots("D0ANA"))
        assert answer.text == "Yes, it left today &lt;3"
        assert answer.args["username"] == "Bea"
        assert answer.args["unfurl_links"] is False
        # A second DM message joins the same conversation.
        again = message_event("D0ANA", "U0CUST", "thanks!", channel_type="im")
        assert await s.send_event(again) == 200
        await s.settle()
        assert [m.text for m in await s.messages(conversation.id)] == [
            "Is my <order> shipped?",
            "Yes, it left today <3",
            "thanks!",
        ]


async def test_a_shared_channel_thread_is_a_conversation_answered_in_place(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        s.fake.add_user("U0CUST", "Joe Acme", team="T0ACME")
        shot = s.fake.add_file("error.txt", b"Traceback: boom")
        top = message_event(SHARED, "U0CUST", "The export fails", files=[shot])
        assert await s.send_event(top) == 200
        await s.settle()
        conversation = await s.only_conversation()
        assert conversation.origin.thread_key == f"{SHARED}:{top['ts']}"
        [message] = await s.messages(conversation.id)
        [attachment] = message.attachments
        assert attachment.name == "error.txt"
        assert await s.bridge.runtime.files.read(attachment.storage_key) == b"Traceback: boom"
        # The customer's file shows in the agents' thread too.
        root_ts = await s.root_of(conversation.id)
        await s.wait(
            lambda: any(p.files == ["error.txt"] for p in s.fake.in_thread(SUPPORT, root_ts))
        )

        # A colleague (an agent) chatting in the shared channel is not a customer.
        colleague = message_event(SHARED, "U0BEA", "on it", thread_ts=str(top["ts"]))
        assert await s.send_event(colleague) == 200
        # The customer follows up in the thread, then corrects it.
        follow = message_event(SHARED, "U0CUST", "since tuesdy", thread_ts=str(top["ts"]))
        assert await s.send_event(follow) == 200
        fixed = changed_event(
            SHARED, str(follow["ts"]), "U0CUST", "since tuesday", thread_ts=str(top["ts"])
        )
        assert await s.send_event(fixed) == 200
        await s.settle()
        texts = [m.text for m in await s.messages(conversation.id)]
        assert texts == ["The export fails", "since tuesday"]

        # Bea answers from the agents' thread: it lands in the customer's thread; her edit
        # after it went out changes the customer's copy.
        ts = await s.say_in_thread(root_ts, "U0BEA", "Fixed, please retry")
        [answer] = await s.wait(lambda: s.fake.in_thread(SHARED, str(top["ts"])))
        assert answer.text == "Fixed, please retry"
        await s.wait(lambda: "white_check_mark" in s.fake.reactions_on(SUPPORT, ts))
        edit = changed_event(
            SUPPORT, ts, "U0BEA", "Fixed, please retry the export", thread_ts=root_ts
        )
        assert await s.send_event(edit) == 200
        await s.wait(lambda: answer.edits == ["Fixed, please retry the export"])
        agents = [m for m in await s.messages(conversation.id) if m.author is Author.AGENT]
        assert [m.text for m in agents] == ["Fixed, please retry the export"]


async def test_messages_outside_configured_places_are_ignored(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path, direct_messages=False) as s:
        s.fake.add_user("U0CUST", "Ana Lima")
        assert await s.send_event(message_event("C0RANDOM", "U0CUST", "hi")) == 200
        dm = message_event("D0ANA", "U0CUST", "hi", channel_type="im")
        assert await s.send_event(dm) == 200
        await s.settle()
        page = await s.bridge.runtime.storage.conversations.list_conversations()
        assert page.items == ()
