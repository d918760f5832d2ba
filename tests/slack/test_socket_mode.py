"""Socket Mode: with an app-level token, events arrive over Slack's websocket and are acked
there (https://docs.slack.dev/apis/events-api/using-socket-mode)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.slack.fake_web_api import APP_TOKEN
from tests.slack.signing import event_callback, message_event
from tests.slack.support import WAIT, slack_bridge


async def test_socket_mode_is_chosen_and_its_events_are_acked_and_handled(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path, app_token=APP_TOKEN, signing_secret="") as s:
        async with asyncio.timeout(WAIT):
            await s.fake.socket_opened.wait()
        assert s.fake.calls_of("apps.connections.open")
        state = (await s.readyz())["components"]["channel:slack:default"]
        assert state["health"] == "ok"
        assert "socket mode" in state["detail"]

        s.fake.add_user("U0CUST", "Ana Lima")
        event = event_callback(
            message_event("D0ANA", "U0CUST", "over the socket", channel_type="im")
        )
        envelope = {
            "envelope_id": "env-1",
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": event,
        }
        await s.fake.push_envelope(envelope)
        await s.wait(lambda: any(a.get("envelope_id") == "env-1" for a in s.fake.acks))
        # Slack redelivers an envelope it thinks was lost: acked again, stored once.
        await s.fake.push_envelope({**envelope, "envelope_id": "env-2", "retry_attempt": 1})
        await s.wait(lambda: any(a.get("envelope_id") == "env-2" for a in s.fake.acks))
        await s.settle()
        conversation = await s.only_conversation()
        assert [m.text for m in await s.messages(conversation.id)] == ["over the socket"]

        # No signing secret: the HTTP endpoints take nothing.
        async with s.bridge.http.post(s.bridge.url("/slack/events"), data=b"{}") as response:
            assert response.status == 503
