"""Requests from Slack: signed for real; forged, stale and altered ones refused with 401;
retries and the app's own events dropped."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from storage.store import Storage
from tests.slack.fake_web_api import BOT_USER
from tests.slack.signing import (
    bot_message_event,
    event_callback,
    message_event,
    sign,
)
from tests.slack.support import SHARED, SUPPORT, slack_bridge


async def test_signed_requests_pass_and_forged_stale_or_altered_ones_get_401(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user("U0CUST", "Ana Lima", email="ana@acme.example")
        body = json.dumps(event_callback(message_event(SHARED, "U0CUST", "hello"))).encode()
        url, http = s.bridge.url("/slack/events"), s.bridge.http

        async def post(data: bytes, headers: dict[str, str]) -> int:
            async with http.post(
                url, data=data, headers={"Content-Type": "application/json", **headers}
            ) as response:
                return response.status

        forged = sign(body, secret="not-the-signing-secret")
        assert await post(body, forged) == 401
        stale = sign(body, timestamp=int(time.time()) - 6 * 60)
        assert await post(body, stale) == 401
        altered = body.replace(b"hello", b"HELLO")
        assert await post(altered, sign(body)) == 401
        assert await post(body, {}) == 401
        for path in ("/slack/interactivity", "/slack/commands"):
            async with http.post(s.bridge.url(path), data=b"payload=%7B%7D") as response:
                assert response.status == 401
        await s.settle()
        page = await s.bridge.runtime.storage.conversations.list_conversations()
        assert page.items == ()

        assert await post(body, sign(body)) == 200
        await s.settle()
        conversation = await s.only_conversation()
        assert conversation.origin.thread_key.startswith(f"{SHARED}:")


async def test_url_verification_is_answered(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        body = json.dumps(
            {"type": "url_verification", "challenge": "3eZbrw1aBm", "token": "x"}
        ).encode()
        response = await s.signed_post("/slack/events", body)
        assert response.status == 200


async def test_retries_of_an_event_are_acknowledged_and_not_duplicated(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user("U0CUST", "Ana Lima")
        event = message_event(SHARED, "U0CUST", "only once please")
        assert await s.send_event(event, event_id="Ev0001") == 200
        assert await s.send_event(event, event_id="Ev0001", retry=1) == 200
        assert await s.send_event(event, event_id="Ev0001", retry=2) == 200
        await s.settle()
        # A retry whose event id was forgotten (a restart) is caught by the store: same ts.
        assert await s.send_event(event, event_id="Ev0002", retry=3) == 200
        await s.settle()
        conversation = await s.only_conversation()
        texts = [m.text for m in await s.messages(conversation.id)]
        assert texts == ["only once please"]
        assert s.adapter.duplicates == 2
        # Mirrored into the support channel once as well.
        thread = s.fake.in_thread(SUPPORT, await s.root_of(conversation.id))
        assert [p.text for p in thread] == ["only once please"]


async def test_the_apps_own_messages_are_ignored(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        assert await s.send_event(bot_message_event(SHARED, "from the bot itself")) == 200
        own_user = message_event(SHARED, BOT_USER, "posted as the bot user")
        assert await s.send_event(own_user) == 200
        await s.settle()
        page = await s.bridge.runtime.storage.conversations.list_conversations()
        assert page.items == ()
        assert s.fake.calls_of("chat.postMessage") == []


async def test_events_acknowledged_before_a_shutdown_are_stored(tmp_path: Path) -> None:
    """Slack does not resend what it saw acknowledged, so a stop hands queued events to the
    pipeline before the pipeline stops."""
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user("U0CUST", "Ana Lima")
        events = [
            message_event(SHARED, "U0CUST", f"message {n}", ts=f"1700000000.{n:06d}")
            for n in range(COUNT)
        ]
        statuses = await asyncio.gather(
            *(s.send_event(e, event_id=f"EvStop{n}") for n, e in enumerate(events))
        )
        assert set(statuses) == {200}
        await s.bridge.runtime.stop()  # at once: events are still queued in the adapter
        storage = Storage.open(f"sqlite+aiosqlite:///{tmp_path}/bridge.db")
        try:
            stored = await storage.conversations.messages_after(0, 1000)
        finally:
            await storage.close()
    assert sorted(m.text for m in stored) == sorted(f"message {n}" for n in range(COUNT))


COUNT = 150
