"""Receiving against a real Dovecot (IMAP IDLE) fed by a real SMTP server: the cursor, restarts,
UIDVALIDITY, processed-message actions, polling, reconnects, bounces and broken mail.

The core's ports are in-memory twins here (tests/email/memory.py); test_end_to_end.py runs the
same paths through the whole bridge.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bridge.ports import Health
from channels.email.watcher import cursor_name
from tests.email.rig import customer_mail, mail_in, rig
from tests.email.servers import CUSTOMER, SUPPORT, Dovecot, SmtpSink

CORPUS = Path(__file__).parent / "corpus"
SOURCE = "email:default"


async def test_mail_arrives_over_idle_and_a_restart_neither_loses_nor_refetches(
    dovecot: Dovecot, smtp: SmtpSink
) -> None:
    setup = rig(dovecot, smtp)
    adapter = await setup.started()
    assert adapter.state().health is Health.OK
    await mail_in(smtp, customer_mail("My order 5521 is late", message_id="m1@example.net"))
    await mail_in(smtp, customer_mail("Also the invoice is wrong", message_id="m2@example.net"))
    items = await setup.store.wait_for(2)
    assert [i.external_id for i in items] == ["m1@example.net", "m2@example.net"]
    first = items[0]
    assert first.thread.thread_key == f"{CUSTOMER}|m1@example.net"
    assert first.sender_id == CUSTOMER
    assert first.email == CUSTOMER
    assert not first.email_verified
    assert first.auto_reply_allowed
    assert first.text == "Subject: Help with my order\n\nMy order 5521 is late"
    assert [a.name for a in first.attachments] == ["original.eml"]
    assert b"My order 5521 is late" in setup.files.data[first.attachments[0].storage_key]
    await adapter.stop()

    # Mail that arrives while the bridge is down is taken on the next start, and only it.
    dovecot.deliver(SUPPORT, customer_mail("Hello?", message_id="m3@example.net").as_bytes())
    calls_before = setup.store.calls
    again = await setup.started()
    items = await setup.store.wait_for(3)
    assert [i.external_id for i in items] == ["m1@example.net", "m2@example.net", "m3@example.net"]
    assert setup.store.calls == calls_before + 1  # nothing was fetched twice
    cursor = setup.cursors.data[(SOURCE, cursor_name("INBOX"))]
    assert cursor.endswith(":3")
    await again.stop()


async def test_a_changed_uidvalidity_reads_the_box_again_without_doubling(
    dovecot: Dovecot, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    setup = rig(dovecot, smtp)
    adapter = await setup.started()
    await mail_in(smtp, customer_mail("one", message_id="u1@example.net"))
    await setup.store.wait_for(1)
    await adapter.stop()
    key = (SOURCE, cursor_name("INBOX"))
    validity, _, last = setup.cursors.data[key].partition(":")
    setup.cursors.data[key] = f"{int(validity) + 1}:{last}"
    calls = setup.store.calls
    with caplog.at_level(logging.WARNING, logger="channels.email.watcher"):
        again = await setup.started()
    assert "UIDVALIDITY" in caplog.text
    assert setup.store.calls == calls  # known by its Message-ID: not stored again
    assert setup.cursors.data[key] == f"{validity}:{last}"
    await again.stop()


async def test_first_start_takes_unseen_mail_only(dovecot: Dovecot) -> None:
    dovecot.deliver(SUPPORT, customer_mail("old, read", message_id="seen@example.net").as_bytes())
    dovecot.deliver(SUPPORT, customer_mail("new", message_id="unseen@example.net").as_bytes())
    # Mark the first one read, as a person who looked at the mailbox would have.
    [name] = [
        n for n in (dovecot.path(SUPPORT) / "new").iterdir() if b"old, read" in n.read_bytes()
    ]
    name.rename(dovecot.path(SUPPORT) / "cur" / f"{name.name}:2,S")
    setup = rig(dovecot)
    adapter = await setup.started()
    assert [i.external_id for i in setup.store.items] == ["unseen@example.net"]
    await adapter.stop()


@pytest.mark.parametrize("action", ["seen", "move"])
async def test_processed_mail_is_flagged_or_moved(
    dovecot: Dovecot, smtp: SmtpSink, action: str
) -> None:
    setup = rig(dovecot, smtp, processed_action=action, processed_folder="Done")
    adapter = await setup.started()
    await mail_in(smtp, customer_mail("flag me", message_id="p1@example.net"))
    await setup.store.wait_for(1)
    await adapter.watcher.wait_handled(1)  # the action follows the commit
    await adapter.stop()
    inbox = dovecot.maildir(SUPPORT)
    if action == "seen":
        [message] = list(inbox)
        assert "S" in message.get_flags()
    else:
        assert len(inbox) == 0
        assert len(dovecot.maildir(SUPPORT, "Done")) == 1


async def test_without_idle_the_mailbox_is_polled(dovecot: Dovecot, smtp: SmtpSink) -> None:
    dovecot.halt()
    dovecot.config.write_text(
        dovecot.config.read_text() + "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS MOVE\n"
    )
    dovecot.launch()
    setup = rig(dovecot, smtp, poll_seconds=1)
    adapter = await setup.started()
    await mail_in(smtp, customer_mail("polled", message_id="poll@example.net"))
    await setup.store.wait_for(1)
    await adapter.stop()


async def test_the_loop_survives_the_server_going_away(dovecot: Dovecot, smtp: SmtpSink) -> None:
    setup = rig(dovecot, smtp, reconnect_max_seconds=0.5)
    adapter = await setup.started()
    dovecot.halt()
    async with asyncio.timeout(30):
        await adapter.watcher.wait_health(Health.DEGRADED)
    assert "reconnecting" in adapter.state().detail
    dovecot.launch()
    async with asyncio.timeout(30):
        await adapter.watcher.wait_health(Health.OK)
    await mail_in(smtp, customer_mail("after the outage", message_id="r1@example.net"))
    await setup.store.wait_for(1)
    await adapter.stop()


async def test_a_bounce_marks_our_delivery_failed_and_opens_nothing(
    dovecot: Dovecot, smtp: SmtpSink
) -> None:
    setup = rig(dovecot, smtp)
    adapter = await setup.started()
    dovecot.deliver(SUPPORT, (CORPUS / "bounce_dsn.eml").read_bytes())
    dovecot.deliver(SUPPORT, customer_mail("after the bounce", message_id="b2@x.net").as_bytes())
    await setup.store.wait_for(1)
    assert [i.external_id for i in setup.store.items] == ["b2@x.net"]
    [(source, original, reason)] = setup.feedback.failures
    assert source == SOURCE
    assert original == "bridge.deadbeefdeadbeefdeadbeefdeadbeef@example.com"
    assert "User unknown" in reason
    await adapter.stop()


async def test_broken_and_robot_mail_still_arrives_flagged(dovecot: Dovecot) -> None:
    setup = rig(dovecot)
    adapter = await setup.started()
    for name in ("broken_mime.eml", "auto_reply.eml", "no_message_id.eml", "garbage.eml"):
        dovecot.deliver(SUPPORT, (CORPUS / name).read_bytes())
    await adapter.watcher.wait_handled(4)
    items = setup.store.items
    by_sender = {i.sender_id: i for i in items}
    assert "the app crashes when" in by_sender["broken@example.org"].text
    assert not by_sender["maria.oliveira@contoso.pt"].auto_reply_allowed
    assert by_sender["someone@example.org"].external_id.endswith("@missing-message-id.invalid")
    assert len(items) == 3  # garbage.eml has no sender address: nobody to answer
    await adapter.stop()


async def test_threads_follow_references_and_stay_with_their_sender(dovecot: Dovecot) -> None:
    setup = rig(dovecot)
    adapter = await setup.started()
    for name in ("list_post.eml", "newsletter_reply_1.eml", "newsletter_reply_2.eml"):
        dovecot.deliver(SUPPORT, (CORPUS / name).read_bytes())
    await setup.store.wait_for(3)
    post, rita, paulo = setup.store.items
    assert not post.auto_reply_allowed
    # Both answered the newsletter; each is a conversation of their own.
    assert rita.thread.thread_key == "rita@example.org|reply-rita-1@example.org"
    assert paulo.thread.thread_key == "paulo@example.net|reply-paulo-1@example.net"
    # Rita answers herself: same thread.
    follow = customer_mail(
        "and to Madeira?",
        sender="rita@example.org",
        message_id="reply-rita-2@example.org",
        in_reply_to="reply-rita-1@example.org",
        subject="Re: June news",
    )
    dovecot.deliver(SUPPORT, follow.as_bytes())
    items = await setup.store.wait_for(4)
    assert items[3].thread == rita.thread
    assert not items[3].text.startswith("Subject:")
    await adapter.stop()
