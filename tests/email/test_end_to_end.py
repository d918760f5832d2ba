"""The whole bridge (tests/harness.py) with the email channel on a real Dovecot and a real SMTP
server: the issue's flow, notes that never leave, bounces, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bridge.events import DeliveryFailed, MessageAdded
from bridge.model import Author
from runtime.app import Runtime
from tests import harness
from tests.email.rig import customer_mail, mail_in
from tests.email.servers import CUSTOMER, SUPPORT, Dovecot, SmtpSink
from tests.harness import Running, running_bridge

CORPUS = Path(__file__).parent / "corpus"


@asynccontextmanager
async def bridge(
    tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink, **email: Any
) -> AsyncIterator[Running]:
    settings = dovecot.settings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", **email
    )
    async with running_bridge(tmp_path, channels={"email": settings}) as running:
        adapter: Any = running.runtime.adapters["email:default"]
        await adapter.watcher.wait_passes(1)
        yield running


async def customer_messages(running: Running, count: int) -> list[MessageAdded]:
    """Wait for ``count`` customer messages to be stored; oldest first."""
    store = running.runtime.storage.conversations
    found: dict[int, MessageAdded] = {}
    subscription = running.runtime.bus.subscribe(frozenset({MessageAdded.kind}))
    try:
        async with asyncio.timeout(20):
            for conversation in (await store.list_conversations()).items:
                for message in await store.messages(conversation.id):
                    if message.author is Author.CUSTOMER:
                        found[message.id] = MessageAdded(message, conversation)
            if len(found) < count:
                async for event in subscription:
                    assert isinstance(event, MessageAdded)
                    if event.message.author is Author.CUSTOMER:
                        found[event.message.id] = event
                    if len(found) >= count:
                        break
    finally:
        await subscription.close()
    return [found[key] for key in sorted(found)]


async def test_mail_in_ack_agent_reply_customer_reply_is_one_conversation(
    tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    async with bridge(tmp_path, dovecot, smtp) as running:
        first = customer_mail("My order 5521 has not arrived.", message_id="c1@example.net")
        await mail_in(smtp, first)
        # The acknowledgement comes back, threaded under the customer's mail.
        [_, ack] = await smtp.wait_for(2)  # the customer's own mail, then ours
        assert ack.rcpt_tos == [CUSTOMER]
        assert ack.message["In-Reply-To"] == "<c1@example.net>"
        assert ack.message["Auto-Submitted"] == "auto-replied"
        [event] = await customer_messages(running, 1)
        conversation = event.conversation
        assert ack.message["Subject"] == f"Re: Help with my order [#{conversation.id}]"
        assert conversation.reference in ack.message.get_body(("plain",)).get_content()

        # An agent answers and writes a note; only the answer goes out.
        url = running.url(f"/api/conversations/{conversation.id}/messages")
        note = {"text": "NOTE: customer is a VIP, refund freely", "internal": True}
        async with running.http.post(url, json=note, headers=running.auth) as response:
            assert response.status == 201
        reply = {"text": "Hello Ana, the parcel left our warehouse today.", "internal": False}
        async with running.http.post(url, json=reply, headers=running.auth) as response:
            assert response.status == 201
        received = await smtp.wait_for(3)
        answer = received[2]
        assert answer.rcpt_tos == [CUSTOMER]
        assert answer.message["In-Reply-To"] == "<c1@example.net>"
        assert "parcel left our warehouse" in answer.message.get_body(("plain",)).get_content()

        # The customer answers the agent's mail from their client.
        agent_id = answer.message["Message-ID"].strip("<>")
        references = ("c1@example.net", ack.message["Message-ID"].strip("<>"), agent_id)
        again = customer_mail(
            "Great, thanks!\n\nOn Tue, Support wrote:\n> Hello Ana",
            message_id="c2@example.net",
            subject=f"Re: Help with my order [#{conversation.id}]",
            in_reply_to=agent_id,
            references=references,
        )
        await mail_in(smtp, again)
        events = await customer_messages(running, 2)
        assert {e.conversation.id for e in events} == {conversation.id}
        assert events[1].message.text == "Great, thanks!"

        async with running.http.get(
            running.url(f"/api/conversations/{conversation.id}"), headers=running.auth
        ) as response:
            body = await response.json()
        authors = [(m["author"], m["visibility"]) for m in body["messages"]]
        assert authors == [
            ("customer", "public"),
            ("bot", "public"),
            ("agent", "internal"),
            ("agent", "public"),
            ("customer", "public"),
        ]
        # Nothing else went out, and the note never did.
        sent = smtp.to(CUSTOMER)
        assert len(sent) == 2
        assert all(b"VIP" not in r.data for r in smtp.received)


async def test_a_bounce_fails_the_delivery_it_names(
    tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    async with bridge(tmp_path, dovecot, smtp) as running:
        await mail_in(smtp, customer_mail("Hello", message_id="c1@example.net"))
        [_, ack] = await smtp.wait_for(2)
        [event] = await customer_messages(running, 1)
        ours = ack.message["Message-ID"].strip("<>")
        dsn = (CORPUS / "bounce_dsn.eml").read_bytes()
        dsn = dsn.replace(b"bridge.deadbeefdeadbeefdeadbeefdeadbeef@example.com", ours.encode())
        failed = running.runtime.bus.subscribe(frozenset({DeliveryFailed.kind}))
        try:
            dovecot.deliver(SUPPORT, dsn)
            async with asyncio.timeout(20):
                async for item in failed:
                    assert isinstance(item, DeliveryFailed)
                    assert "User unknown" in item.reason
                    break
        finally:
            await failed.close()
        deliveries = await running.runtime.storage.conversations.deliveries_for(
            event.conversation.id
        )
        assert [d.state for d in deliveries] == ["failed"]
        listing = await running.runtime.storage.conversations.list_conversations()
        assert len(listing.items) == 1  # the bounce opened nothing


async def test_a_restarted_bridge_takes_only_new_mail(
    tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    async with bridge(tmp_path, dovecot, smtp) as running:
        await mail_in(smtp, customer_mail("one", message_id="r1@example.net"))
        await customer_messages(running, 1)
        first: Any = running.runtime.adapters["email:default"]
        await first.watcher.wait_handled(1)  # stored, and the cursor moved past it
    dovecot.deliver(SUPPORT, customer_mail("two", message_id="r2@example.net").as_bytes())
    # The same database again (the harness would add its agent twice, so no harness here).
    settings = dovecot.settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none")
    runtime = Runtime(harness.test_settings(tmp_path, channels={"email": settings}))
    await runtime.start()
    try:
        adapter: Any = runtime.adapters["email:default"]
        await adapter.watcher.wait_handled(1)
        store = runtime.storage.conversations
        conversations = (await store.list_conversations()).items
        ids = [
            m.external_id
            for c in conversations
            for m in await store.messages(c.id)
            if m.author is Author.CUSTOMER
        ]
        assert sorted(ids) == ["r1@example.net", "r2@example.net"]
        assert len(conversations) == 2  # no reference to an earlier mail: a new conversation
        assert adapter.watcher.handled == 1  # the first mail was not fetched again
    finally:
        await runtime.stop()


async def test_robots_get_no_acknowledgement(
    tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    async with bridge(tmp_path, dovecot, smtp) as running:
        for name in ("auto_reply.eml", "list_post.eml"):
            dovecot.deliver(SUPPORT, (CORPUS / name).read_bytes())
        await customer_messages(running, 2)
        # A person's mail afterwards is acknowledged; the router handles events in order,
        # so by then it has decided about the two robots' mails too.
        await mail_in(smtp, customer_mail("A person", message_id="p1@example.net"))
        received = await smtp.wait_for(2)  # the person's mail in, our acknowledgement out
        await customer_messages(running, 3)
        outgoing = [r for r in received if r.mail_from == SUPPORT]
        assert [r.rcpt_tos for r in outgoing] == [[CUSTOMER]]
        store = running.runtime.storage.conversations
        conversations = (await store.list_conversations()).items
        bots = [
            m for c in conversations for m in await store.messages(c.id) if m.author is Author.BOT
        ]
        assert len(bots) == 1
