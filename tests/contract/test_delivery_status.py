"""Which deliveries wait (storage/delivery_status.py), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from bridge.clock import ManualClock
from bridge.model import ThreadRef
from bridge.ports import SendOutcome
from storage.store import Storage
from tests.contract.test_storage import LEASE, ingest, reply
from tests.factories import inbound

OVERDUE = timedelta(seconds=60)
SLACK = ThreadRef("slack", "default", "C0SHARED:1700000000.000100")
EMAIL = ThreadRef("email", "default", "ana@example.net|<root@example.net>")
MAIL_2 = ThreadRef("email", "default", "joe@example.net|<r2@example.net>")


async def test_failures_hold_their_conversation_and_are_told_per_channel(
    storage: Storage, clock: ManualClock
) -> None:
    slack, mail, mail2 = await ingest(
        storage,
        clock,
        inbound("s", at=clock.now(), thread=SLACK),
        inbound("e", at=clock.now(), thread=EMAIL),
        inbound("e2", at=clock.now(), thread=MAIL_2),
    )
    s1 = await reply(storage, slack.conversation.id, "s1", at=clock.now())
    s2 = await reply(storage, slack.conversation.id, "s2", at=clock.now())
    e1 = await reply(storage, mail.conversation.id, "e1", at=clock.now())
    f1 = await reply(storage, mail2.conversation.id, "f1", at=clock.now())
    status = storage.delivery_status
    # Due, untried, and not overdue: nothing waits yet.
    assert (await status.waiting(clock.now(), overdue_after=OVERDUE, limit=10)).total == 0

    claimed = await storage.outbox.claim_due(clock.now(), "d1", LEASE, 10)
    assert len(claimed) == 3  # s2 queues behind s1
    clock.advance(timedelta(seconds=1))
    soon = clock.now() + timedelta(seconds=5)
    await storage.outbox.record(
        [
            SendOutcome(
                s1.deliveries[0].id, "retry", 3, error="rate limited", next_attempt_at=soon
            ),
            SendOutcome(e1.deliveries[0].id, "retry", 1, error="SMTP old", next_attempt_at=soon),
            SendOutcome(f1.deliveries[0].id, "sent", 1, external_id="<x@example.com>"),
        ],
        clock.now(),
    )
    clock.advance(timedelta(seconds=1))
    later = clock.now() + timedelta(seconds=20)
    await storage.outbox.record(
        [SendOutcome(e1.deliveries[0].id, "retry", 2, error="SMTP down", next_attempt_at=later)],
        clock.now(),
    )

    found = await status.waiting(clock.now(), overdue_after=OVERDUE, limit=10)
    assert found.total == 3
    by_channel = {d.channel: d for d in found.destinations}
    assert set(by_channel) == {"slack", "email"}
    assert (by_channel["slack"].count, by_channel["slack"].reason) == (2, "rate limited")
    assert by_channel["slack"].next_attempt_at == soon
    assert by_channel["slack"].conversation_ids == (slack.conversation.id,)
    # The latest failure is the reason; the sent reply of the other mail thread is not there.
    assert (by_channel["email"].count, by_channel["email"].reason) == (1, "SMTP down")
    assert by_channel["email"].next_attempt_at == later
    assert by_channel["email"].conversation_ids == (mail.conversation.id,)
    assert [i.message_id for i in found.items] == [
        s1.message.id,
        s2.message.id,
        e1.message.id,
    ]
    queued = found.items[1]
    assert (queued.attempts, queued.reason, queued.destination) == (0, "rate limited", SLACK)
    only = await status.waiting(clock.now(), overdue_after=OVERDUE, limit=1)
    assert (only.total, len(only.items)) == (3, 1)

    # Sent at last: the queued one is due and untried, so it no longer waits.
    await storage.outbox.record(
        [SendOutcome(s1.deliveries[0].id, "sent", 4, external_id="ts1")], clock.now()
    )
    found = await status.waiting(clock.now(), overdue_after=OVERDUE, limit=10)
    assert [d.channel for d in found.destinations] == ["email"]
    # ... until nobody sends it for longer than the overdue limit.
    clock.advance(OVERDUE + timedelta(seconds=1))
    found = await status.waiting(clock.now(), overdue_after=OVERDUE, limit=10)
    slack_now = next(d for d in found.destinations if d.channel == "slack")
    assert (slack_now.count, slack_now.reason, slack_now.next_attempt_at) == (1, None, None)
    assert [i.message_id for i in found.items] == [s2.message.id, e1.message.id]
