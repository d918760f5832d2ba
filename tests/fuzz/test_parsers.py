"""Every inbound parser against generated garbage: it answers, or refuses with its own error,
and never crashes the loop that called it.

Telegram updates, Slack events, MIME messages and web chat frames come from strangers; a
payload that raises anything but the parser's declared refusal would take down a polling loop
or answer 500. Findings stay here as explicit examples.
"""

from __future__ import annotations

import contextlib
import email.message
import json
import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from channels.email.loops import automatic_reason, bounce_of
from channels.email.mime import parse as parse_mime
from channels.email.threads import clean_subject, subject_reference
from channels.slack.convert import customer_thread_key, parse_message_event
from channels.telegram.convert import parse_update, read_update
from channels.webchat.convert import FrameError, parse_client_frame

# More in a fuzzing session: BRIDGE_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/fuzz
FUZZ = settings(
    max_examples=int(os.environ.get("BRIDGE_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


def shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A payload with the platform's field names, each holding anything at all."""
    return st.fixed_dictionaries({}, optional={name: s | json_values for name, s in fields.items()})


telegram_user = shaped(
    {
        "id": st.integers(),
        "is_bot": st.booleans(),
        "first_name": st.text(),
        "language_code": st.text(),
    }
)
telegram_chat = shaped({"id": st.integers(), "type": st.sampled_from(["private", "group", "x"])})
telegram_message = shaped(
    {
        "message_id": st.integers(),
        "date": st.integers(),
        "chat": telegram_chat,
        "from": telegram_user,
        "text": st.text(),
        "caption": st.text(),
        "photo": st.lists(
            shaped(
                {
                    "file_id": st.text(),
                    "file_unique_id": st.text(),
                    "width": st.integers(),
                    "height": st.integers(),
                    "file_size": st.integers(),
                }
            )
        ),
        "document": shaped(
            {
                "file_id": st.text(),
                "file_unique_id": st.text(),
                "file_name": st.text(),
                "file_size": st.integers(),
            }
        ),
        "sticker": json_values,
        "location": shaped({"latitude": st.floats(), "longitude": st.floats()}),
        "contact": json_values,
        "poll": json_values,
    }
)
telegram_updates = shaped(
    {
        "update_id": st.integers(),
        "message": telegram_message,
        "edited_message": telegram_message,
        "callback_query": shaped(
            {
                "id": st.text(),
                "from": telegram_user,
                "chat_instance": st.text(),
                "data": st.text(),
                "message": telegram_message,
            }
        ),
        "channel_post": telegram_message,
    }
)


@FUZZ
@given(telegram_updates)
@example({"update_id": 1, "callback_query": {"id": "1"}})
@example(
    {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 1, "type": "private"},
            "from": {"id": 1, "is_bot": False, "first_name": "A"},
            "poll": {"broken": True},
        },
    }
)
def test_telegram_updates_parse_or_are_refused(payload: dict[str, Any]) -> None:
    try:
        update = read_update(payload)
    except ValidationError:
        return  # a malformed update: the webhook answers 400, the poller skips it
    parse_update(update, account="default", groups=True, bot_username="support_bot")


slack_events = shaped(
    {
        "type": st.sampled_from(["message", "app_mention", "reaction_added"]),
        "subtype": st.sampled_from(
            ["message_changed", "message_deleted", "bot_message", "file_share", "thread_broadcast"]
        ),
        "channel": st.text(max_size=12),
        "channel_type": st.sampled_from(["channel", "im", "group", "mpim"]),
        "user": st.text(max_size=12),
        "bot_id": st.text(max_size=12),
        "text": st.text(),
        "ts": st.text(max_size=20) | st.from_regex(r"\A\d{10}\.\d{6}\Z"),
        "thread_ts": st.text(max_size=20),
        "files": st.lists(json_values, max_size=3),
        "message": json_values,
        "previous_message": json_values,
    }
)


@FUZZ
@given(slack_events)
@example({"type": "message", "subtype": "message_changed", "message": None})
@example({"type": "message", "subtype": ["file_share"]})  # found: unhashable subtype
@example({"type": "message", "subtype": "message_deleted", "previous_message": [1]})
def test_slack_events_parse_or_are_dropped(event: dict[str, Any]) -> None:
    parsed = parse_message_event(event)
    if parsed is not None and parsed.kind != "other":
        customer_thread_key(parsed)


headers = st.sampled_from(
    [
        "From",
        "To",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Date",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Auto-Submitted",
        "Precedence",
        "List-Id",
        "Return-Path",
        "Content-Language",
        "X-Auto-Response-Suppress",
    ]
)
header_values = st.text(max_size=80).filter(
    lambda v: "\n" not in v and "\r" not in v
) | st.sampled_from(
    [
        "=?utf-8?b?0J/RgNC40LLQtdGC?=",
        "=?koi8-r?q?=F0=D2=C9?=",
        "=?bogus?x?zz?=",
        'multipart/mixed; boundary="b"',
        "multipart/report; report-type=delivery-status",
        "text/plain; charset=unknown-8bit",
        "<a@b>",
        "<<<>>>",
        "auto-replied",
    ]
)


@st.composite
def raw_mails(draw: st.DrawFn) -> bytes:
    lines = [f"{draw(headers)}: {draw(header_values)}" for _ in range(draw(st.integers(0, 8)))]
    body = draw(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
    boundary = (
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\npart\r\n--b--\r\n"
        if draw(st.booleans())
        else b""
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body + boundary


@FUZZ
@given(raw_mails())
@example(b"")
@example(b"Content-Type: multipart/mixed\r\n\r\n--x")
@example(b"Content-Type: message/rfc822\r\n\r\n\xff\xfe")
def test_any_bytes_parse_as_some_mail(raw: bytes) -> None:
    parsed = parse_mime(raw)
    automatic_reason(parsed)
    bounce_of(parsed)
    assert isinstance(parsed.message, email.message.Message)


@given(st.text())
def test_subjects_never_break_threading(subject: str) -> None:
    clean_subject(subject)
    reference = subject_reference(subject)
    assert reference is None or reference >= 0


frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    shaped(
        {
            "type": st.sampled_from(["message", "resume", "typing", "csat", "nope"]),
            "text": st.text(),
            "client_msg_id": st.text(max_size=80),
            "after_id": st.integers(),
            "rating": st.integers(),
            "comment": st.text(),
        }
    ).map(json.dumps),
)


@FUZZ
@given(frames)
@example('{"type": "resume", "after_id": 1e309}')
@example('{"type": "message", "text": "\\ud800"}')  # found: a lone surrogate crashed check_body
def test_web_chat_frames_parse_or_are_refused(raw: str) -> None:
    with contextlib.suppress(FrameError):
        parse_client_frame(raw)
