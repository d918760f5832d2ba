"""Sending through a real SMTP server (aiosmtpd): headers, threading, alternatives,
attachments, the automatic-reply cap, SMTP errors and the Sent copy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.errors import PermanentChannelError, TransientChannelError
from bridge.model import Author, ThreadRef
from channels.email.threads import LAST_IN, MSGID, REFS, SUBJECT
from tests.email.memory import NOW, Links
from tests.email.rig import outbound, rig
from tests.email.servers import CUSTOMER, SUPPORT, Dovecot, SmtpSink, free_port

SOURCE = "email:default"
KEY = f"{CUSTOMER}|root-1@example.net"


async def remember_thread(setup_links: object, subject: str = "Help with my order") -> None:
    """The links an earlier exchange left: a subject, the customer's latest mail, a chain."""
    assert isinstance(setup_links, Links)
    await setup_links.put_links(SOURCE, SUBJECT, [(KEY, subject)], NOW)
    await setup_links.put_links(SOURCE, LAST_IN, [(KEY, "reply-2@example.net")], NOW)
    await setup_links.put_links(
        SOURCE, REFS, [(KEY, "root-1@example.net reply-2@example.net")], NOW
    )


async def test_an_agent_reply_is_threaded_with_text_and_html(
    dovecot: Dovecot, smtp: SmtpSink
) -> None:
    setup = rig(dovecot, smtp)

    conversation = setup.store.add_conversation(ThreadRef("email", "default", KEY))
    await remember_thread(setup.links)
    attachment = await setup.files.save(
        b"%PDF-1.4 label", name="label.pdf", content_type="application/pdf"
    )
    adapter = setup.adapter()
    out = outbound(
        "Hello Ana,\nyour parcel ships today <3",
        thread_key=KEY,
        conversation_id=conversation.id,
        attachments=(attachment,),
    )
    receipt = await adapter.send(out)
    [received] = await smtp.wait_for(1)
    mail = received.message
    assert received.rcpt_tos == [CUSTOMER]
    assert received.mail_from == SUPPORT
    assert mail["Message-ID"] == f"<{receipt.external_id}>"
    assert receipt.external_id.endswith("@example.com")
    assert mail["In-Reply-To"] == "<reply-2@example.net>"
    assert mail["References"] == "<root-1@example.net> <reply-2@example.net>"
    assert mail["Subject"] == f"Re: Help with my order [#{conversation.id}]"
    assert mail["From"] == '"Bea (Support)" <support@example.com>'
    assert mail["Auto-Submitted"] is None
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().replace("\r\n", "\n") == "Hello Ana,\nyour parcel ships today <3\n"
    assert "Hello Ana,<br>\r\nyour parcel ships today &lt;3" in html.get_content()
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "label.pdf"
    assert part.get_content() == b"%PDF-1.4 label"
    # The customer's answer to this mail threads back: its id is remembered.
    known = await setup.links.get_links(SOURCE, MSGID, [receipt.external_id])
    assert known == {receipt.external_id: KEY}
    # A retry of the same delivery carries the same Message-ID.
    again = await adapter.send(out)
    assert again == receipt


async def test_automatic_messages_are_marked_and_capped_per_day(
    dovecot: Dovecot, smtp: SmtpSink
) -> None:
    setup = rig(dovecot, smtp, max_auto_per_sender_per_day=2)

    conversation = setup.store.add_conversation(ThreadRef("email", "default", KEY))
    adapter = setup.adapter()
    for number in (1, 2):
        await adapter.send(
            outbound(
                "We got it",
                thread_key=KEY,
                conversation_id=conversation.id,
                message_id=number,
                author=Author.BOT,
            )
        )
    with pytest.raises(PermanentChannelError, match="capped today"):
        await adapter.send(
            outbound(
                "We got it",
                thread_key=KEY,
                conversation_id=conversation.id,
                message_id=3,
                author=Author.BOT,
            )
        )
    received = await smtp.wait_for(2)
    assert [r.message["Auto-Submitted"] for r in received] == ["auto-replied"] * 2
    assert received[0].message["From"] == "Support <support@example.com>"
    assert received[0].message["Subject"] == f"Re: your request [#{conversation.id}]"
    # People are never capped.
    await adapter.send(
        outbound("Hi", thread_key=KEY, conversation_id=conversation.id, message_id=4)
    )
    # The next day the cap starts again.

    setup.clock.current += timedelta(days=1)
    await adapter.send(
        outbound(
            "We got it",
            thread_key=KEY,
            conversation_id=conversation.id,
            message_id=5,
            author=Author.BOT,
        )
    )
    assert len(await smtp.wait_for(4)) == 4


async def test_smtp_refusals_are_permanent_and_outages_transient(
    dovecot: Dovecot, smtp: SmtpSink
) -> None:
    setup = rig(dovecot, smtp)

    conversation = setup.store.add_conversation(ThreadRef("email", "default", KEY))
    adapter = setup.adapter()
    out = outbound("Hi", thread_key=KEY, conversation_id=conversation.id)
    smtp.refuse[CUSTOMER] = "550 5.1.1 <customer@example.net>: Recipient address rejected"
    with pytest.raises(PermanentChannelError, match=r"550 5\.1\.1"):
        await adapter.send(out)
    smtp.refuse[CUSTOMER] = "451 4.3.0 Try again later"
    with pytest.raises(TransientChannelError, match="451"):
        await adapter.send(out)
    down = rig(dovecot, None, smtp_port=free_port())
    down.store = setup.store
    with pytest.raises(TransientChannelError):
        await down.adapter().send(out)
    with pytest.raises(PermanentChannelError, match="cannot be changed"):
        await adapter.send(outbound("Hi!", thread_key=KEY, edit_of="x@example.com"))


async def test_a_copy_goes_to_the_sent_folder(dovecot: Dovecot, smtp: SmtpSink) -> None:
    setup = rig(dovecot, smtp, sent_folder="Sent")

    conversation = setup.store.add_conversation(ThreadRef("email", "default", KEY))
    adapter = await setup.started()
    receipt = await adapter.send(outbound("Hi", thread_key=KEY, conversation_id=conversation.id))
    await adapter.stop()  # waits for the copy
    [copy] = dovecot.messages(SUPPORT, "Sent")
    assert copy["Message-ID"] == f"<{receipt.external_id}>"
