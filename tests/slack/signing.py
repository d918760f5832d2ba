"""Requests as Slack sends them: signed with the signing secret, by the documented algorithm.

``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))`` with the time in
``X-Slack-Request-Timestamp`` — https://docs.slack.dev/authentication/verifying-requests-from-slack.
Written out here rather than borrowed from slack_sdk, so the tests check bolt's verification
against the documentation, not against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.slack.fake_web_api import BOT_ID, BOT_USER, TEAM

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

_event_ids = itertools.count(1)
_ts = itertools.count(1)


def sign(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def next_ts() -> str:
    """A message ts as Slack makes them (seconds.micro), distinct from the fake's own."""
    return f"{1_800_000_000 + next(_ts)}.000200"


def event_callback(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The Events API envelope (https://docs.slack.dev/apis/events-api/#callback-field)."""
    return {
        "token": "unused-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }


def message_event(
    channel: str,
    user: str,
    text: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str = "channel",
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts or next_ts(),
        "channel_type": channel_type,
        "team": TEAM,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = files
        event["subtype"] = "file_share"
    return event


def bot_message_event(channel: str, text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
    """What Slack sends back when the app itself posted."""
    event = message_event(channel, BOT_USER, text, thread_ts=thread_ts)
    event["bot_id"] = BOT_ID
    return event


def changed_event(
    channel: str, ts: str, user: str, text: str, *, thread_ts: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts}
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "hidden": True,
        "ts": next_ts(),
        "message": message,
        "previous_message": {"type": "message", "user": user, "text": "(before)", "ts": ts},
    }


def deleted_event(
    channel: str, ts: str, user: str, *, thread_ts: str | None = None
) -> dict[str, Any]:
    previous: dict[str, Any] = {"type": "message", "user": user, "text": "(gone)", "ts": ts}
    if thread_ts is not None:
        previous["thread_ts"] = thread_ts
    return {
        "type": "message",
        "subtype": "message_deleted",
        "channel": channel,
        "hidden": True,
        "ts": next_ts(),
        "deleted_ts": ts,
        "previous_message": previous,
    }


def block_action(
    action_id: str,
    value: str,
    *,
    user: str,
    channel: str,
    message_ts: str,
    trigger_id: str = "trigger-1",
) -> bytes:
    """An interactivity request body: form-encoded ``payload=<json>``."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0APP",
        "trigger_id": trigger_id,
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
        "message": {"ts": message_ts, "type": "message"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def view_submission(callback_id: str, metadata: str, values: dict[str, Any], *, user: str) -> bytes:
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0APP",
        "trigger_id": "trigger-2",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": values},
        },
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slash_command(
    command: str, *, user: str, channel: str, response_url: str, text: str = ""
) -> bytes:
    return urlencode(
        {
            "token": "unused",
            "team_id": TEAM,
            "channel_id": channel,
            "user_id": user,
            "command": command,
            "text": text,
            "response_url": response_url,
            "trigger_id": "trigger-3",
        }
    ).encode()
