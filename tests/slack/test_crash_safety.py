"""What a crash must not cost with Slack: an event answered 200 is stored already (Slack does
not send it again), one that could not be stored is refused so that Slack's retry brings it,
and a reply carries a stable idempotency key so a resend after a crash posts nothing twice."""

from __future__ import annotations

from pathlib import Path

from bridge.gate import public_view
from bridge.outbound import OutboundMessage
from tests.slack.fake_web_api import Call
from tests.slack.signing import message_event
from tests.slack.support import SlackBridge, slack_bridge

DM = "D0CUST"
CUSTOMER = "U0CUST"


def to_customer(s: SlackBridge) -> list[Call]:
    """Posts into the customer's DM (the mirror posts into the support channel too)."""
    return [c for c in s.fake.calls_of("chat.postMessage") if c.args.get("channel") == DM]


async def test_an_event_is_answered_200_only_once_its_message_is_stored(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user(CUSTOMER, "Ana Lima")
        event = message_event(DM, CUSTOMER, "is it stored?", channel_type="im")
        assert await s.send_event(event, event_id="EvStored") == 200
        # No settling: the answer came after the commit.
        conversation = await s.only_conversation()
        assert [m.text for m in await s.messages(conversation.id)] == ["is it stored?"]


async def test_an_event_that_cannot_be_stored_gets_503_and_its_retry_is_stored(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user(CUSTOMER, "Ana Lima")
        event = message_event(DM, CUSTOMER, "second time lucky", channel_type="im")
        ingest = s.bridge.runtime.ingestor
        await ingest.stop()  # the store refuses for now
        assert await s.send_event(event, event_id="EvRetry") == 503
        await ingest.start()
        # Slack's retry, with the same event id, is not taken for a duplicate.
        assert await s.send_event(event, event_id="EvRetry", retry=1) == 200
        conversation = await s.only_conversation()
        assert [m.text for m in await s.messages(conversation.id)] == ["second time lucky"]
        assert s.adapter.duplicates == 0
        assert await s.send_event(event, event_id="EvRetry", retry=2) == 200
        assert s.adapter.duplicates == 1


async def test_a_reply_carries_its_key_and_a_resend_of_it_posts_nothing(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user(CUSTOMER, "Ana Lima")
        event = message_event(DM, CUSTOMER, "hello?", channel_type="im")
        assert await s.send_event(event) == 200
        conversation = await s.only_conversation()
        bridge = s.bridge
        async with bridge.http.post(
            bridge.url(f"/api/conversations/{conversation.id}/messages"),
            json={"text": "Hi Ana", "internal": False},
            headers=bridge.auth,
        ) as response:
            assert response.status == 201
            reply_id = (await response.json())["message"]["id"]
        [post] = await s.wait(lambda: [p for p in s.fake.posted if p.channel == DM])
        key = f"m{reply_id}:slack:default:{DM}:0"
        assert post.key == key
        assert [c.key for c in to_customer(s)] == [key]
        # The dispatcher's next attempt after a crash that lost the outcome: same delivery.
        message = next(m for m in await s.messages(conversation.id) if m.id == reply_id)
        again = OutboundMessage(
            delivery_id=1,
            idempotency_key=key.removesuffix(":0"),
            destination=conversation.origin,
            message=public_view(message),
            attempt=2,
        )
        receipt = await s.adapter.send(again)
        assert receipt.external_id == f"{DM}:{post.ts}"
        assert [p.text for p in s.fake.posted if p.channel == DM] == ["Hi Ana"]
        assert s.fake.repeated_keys == 1
        assert [c.repeated for c in to_customer(s)] == [False, True]
