"""``bridge email import`` against a real Dovecot mailbox: threads rebuilt over the whole box in
date order, nothing answered automatically, the live cursor moved past the import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from bridge.model import Author
from channels.email.importer import Importer
from channels.email.watcher import cursor_name
from runtime.email import import_mailbox
from storage.store import Storage
from tests import harness
from tests.email.rig import customer_mail, rig
from tests.email.servers import SUPPORT, Dovecot

CORPUS = Path(__file__).parent / "corpus"
SOURCE = "email:default"
START = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


def dated(mail_bytes: bytes, minutes: int) -> bytes:
    stamp = format_datetime(START + timedelta(minutes=minutes)).encode()
    return b"Date: " + stamp + b"\n" + mail_bytes


async def test_import_rebuilds_threads_in_date_order_and_acknowledges_nothing(
    dovecot: Dovecot,
) -> None:
    ana = "ana@example.org"
    root = customer_mail("Order 1 is late", sender=ana, message_id="a1@example.org")
    reply = customer_mail(
        "Any news?",
        sender=ana,
        message_id="a2@example.org",
        in_reply_to="a1@example.org",
        references=("a1@example.org",),
        subject="Re: Help with my order",
    )
    # The reply reached the mailbox before its parent (UID order), though written after it.
    for mail, minutes in ((reply, 30), (root, 0)):
        del mail["Date"]
        dovecot.deliver(SUPPORT, dated(mail.as_bytes(), minutes))
    for name in ("newsletter_reply_1.eml", "newsletter_reply_2.eml", "bounce_dsn.eml"):
        dovecot.deliver(SUPPORT, (CORPUS / name).read_bytes())
    other = customer_mail("New topic", sender=ana, message_id="a3@example.org", subject="Invoice")
    dovecot.deliver(SUPPORT, dated(other.as_bytes(), 60))

    setup = rig(dovecot)
    adapter = setup.adapter()  # not started: the import runs on its own
    seen: list[tuple[int, int]] = []
    importer = Importer(
        setup.settings, adapter.intake, setup.store, setup.cursors, setup.clock, source=SOURCE
    )
    report = await importer.run(progress=lambda done, total: seen.append((done, total)))

    assert (report.messages, report.stored, report.skipped) == (6, 5, 1)
    assert seen[-1] == (6, 6)
    items = {i.external_id: i for i in setup.store.items}
    assert items["a2@example.org"].thread == items["a1@example.org"].thread
    assert items["a3@example.org"].thread != items["a1@example.org"].thread
    assert items["reply-rita-1@example.org"].thread != items["reply-paulo-1@example.net"].thread
    order = [i.external_id for i in setup.store.items if i.sender_id == ana]
    assert order.index("a1@example.org") < order.index("a2@example.org")
    assert items["a1@example.org"].received_at == START
    assert not any(i.auto_reply_allowed for i in setup.store.items)
    assert len(setup.feedback.failures) == 1  # the bounce, reported, not stored
    assert report.threads == 4

    # The channel starting afterwards does not fetch the imported mail again.
    assert setup.cursors.data[(SOURCE, cursor_name("INBOX"))].endswith(":6")
    calls = setup.store.calls
    live = await setup.started()
    assert setup.store.calls == calls
    await live.stop()

    # Importing again stores nothing twice.
    again = await importer.run()
    assert (again.stored, again.duplicates) == (0, 5)


async def test_the_import_command_fills_the_database_and_queues_nothing(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    for number in range(30):
        mail = customer_mail(
            f"question {number}",
            sender=f"c{number % 7}@example.org",
            message_id=f"q{number}@example.org",
            in_reply_to=f"q{number - 7}@example.org" if number >= 7 else None,
        )
        del mail["Date"]
        dovecot.deliver(SUPPORT, dated(mail.as_bytes(), number))
    settings = harness.test_settings(
        tmp_path, channels={"email": dovecot.settings(smtp_host="127.0.0.1")}
    )
    shown: list[tuple[int, int]] = []
    report = await import_mailbox(settings, progress=lambda *p: shown.append(p))
    assert (report.messages, report.stored, report.threads) == (30, 30, 7)
    assert shown[-1] == (30, 30)
    storage = Storage.open(settings.storage.database_url)
    try:
        conversations = (await storage.conversations.list_conversations()).items
        assert len(conversations) == 7
        for conversation in conversations:
            messages = await storage.conversations.messages(conversation.id)
            assert all(m.author is Author.CUSTOMER for m in messages)
            assert await storage.conversations.deliveries_for(conversation.id) == []
    finally:
        await storage.close()
