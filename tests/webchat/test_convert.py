"""The web chat's pure conversions, on recorded frames (``frames/``)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import InternalMessageRefused, InvalidInput
from bridge.gate import PublicMessage, public_view
from bridge.model import (
    MAX_TEXT_BYTES,
    Author,
    Conversation,
    ConversationStatus,
    Message,
    Priority,
    ThreadRef,
    Visibility,
)
from bridge.ports import Visitor
from channels.webchat.convert import (
    ClientFrame,
    FrameError,
    MalformedJson,
    MessageFrame,
    ResumeFrame,
    TypingFrame,
    encode_frame,
    error_frame,
    first_name,
    inbound_message,
    message_frame,
    parse_client_frame,
    parse_session_request,
    pick_language,
    resumed_frame,
    session_response,
    status_frame,
)

FRAMES = Path(__file__).parent / "frames"
CLIENT = json.loads((FRAMES / "client.json").read_text())
SERVER = json.loads((FRAMES / "server.json").read_text())
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
THREAD = ThreadRef("webchat", "default", "v_abc")
VISITOR = Visitor(7, THREAD, "Ana Lima", "pt-BR", AT)


def message(**changes: Any) -> Message:
    base = Message(
        id=17,
        conversation_id=12,
        author=Author.AGENT,
        author_name="Bea Agent",
        visibility=Visibility.PUBLIC,
        text="Hello Ana, <b>let me</b> check.",
        created_at=AT,
        author_id=1,
    )
    return replace(base, **changes)


def conversation(status: ConversationStatus = ConversationStatus.QUEUED) -> Conversation:
    return Conversation(
        id=12,
        customer_id=7,
        origin=THREAD,
        status=status,
        team="support",
        tier=1,
        priority=Priority.NORMAL,
        created_at=AT,
        updated_at=AT,
    )


def as_dict(frame: ClientFrame) -> dict[str, Any]:
    if isinstance(frame, MessageFrame):
        return {"kind": "message", "text": frame.text, "client_msg_id": frame.client_msg_id}
    if isinstance(frame, ResumeFrame):
        return {"kind": "resume", "after_id": frame.after_id}
    assert isinstance(frame, TypingFrame)
    return {"kind": "typing"}


# --- client frames -----------------------------------------------------------------------


@pytest.mark.parametrize("case", CLIENT["valid"], ids=lambda c: c["raw"][:40])
def test_recorded_client_frames_parse(case: dict[str, Any]) -> None:
    assert as_dict(parse_client_frame(case["raw"])) == case["expect"]


@pytest.mark.parametrize("case", CLIENT["invalid"], ids=lambda c: c["raw"][:40] or "empty")
def test_bad_client_frames_are_refused_with_a_reason(case: dict[str, Any]) -> None:
    with pytest.raises(FrameError) as caught:
        parse_client_frame(case["raw"])
    assert caught.value.reason == case["reason"]
    assert caught.value.message
    assert caught.value.client_msg_id == case.get("client_msg_id")


def test_text_up_to_64_kb_is_accepted_and_one_byte_more_is_too_long() -> None:
    # "é" is two bytes in UTF-8: the limit is on bytes, not characters.
    fits = "é" * (MAX_TEXT_BYTES // 2)
    frame = parse_client_frame(json.dumps({"type": "message", "text": fits}))
    assert isinstance(frame, MessageFrame)
    assert frame.text == fits
    with pytest.raises(FrameError) as caught:
        parse_client_frame(
            json.dumps({"type": "message", "text": fits + "a", "client_msg_id": "big"})
        )
    assert caught.value.reason == "text_too_long"
    assert caught.value.client_msg_id == "big"


def test_client_msg_id_is_limited_to_100_characters() -> None:
    assert isinstance(
        parse_client_frame(
            json.dumps({"type": "message", "text": "x", "client_msg_id": "a" * 100})
        ),
        MessageFrame,
    )
    with pytest.raises(FrameError) as caught:
        parse_client_frame(json.dumps({"type": "message", "text": "x", "client_msg_id": "a" * 101}))
    assert caught.value.reason == "malformed_frame"


def test_inbound_message_makes_a_resend_idempotent_per_visitor() -> None:
    inbound = inbound_message(VISITOR, "hi", "c-1", AT)
    assert inbound.thread == THREAD
    assert inbound.external_id == "v_abc:c-1"
    assert inbound.sender_id == "v_abc"
    assert inbound.sender_name == "Ana Lima"
    assert inbound.language == "pt-BR"
    assert inbound.received_at == AT
    assert inbound.email is None
    assert not inbound.email_verified


# --- server frames -----------------------------------------------------------------------


def test_an_agent_message_frame_shows_the_first_name_only() -> None:
    assert message_frame(public_view(message())) == SERVER["agent_message"]


def test_the_echo_carries_the_client_msg_id() -> None:
    mine = message(
        id=16,
        author=Author.CUSTOMER,
        author_name="Ana Lima",
        text="Where is my order?",
        author_id=7,
    )
    frame = message_frame(public_view(mine), client_msg_id="5f1c2a9e-3b7d-4c1e-9a57-2f0d6b8e4c11")
    assert frame == SERVER["customer_echo"]


def test_bot_and_system_names_are_kept_whole() -> None:
    bot = message_frame(public_view(message(author=Author.BOT, author_name="Support Bot")))
    assert bot["author"] == "bot"
    assert bot["author_name"] == "Support Bot"


def test_an_edited_message_says_so() -> None:
    assert message_frame(public_view(message(edited=True)))["edited"] is True


def test_a_frame_cannot_be_built_from_a_model_message() -> None:
    with pytest.raises(InternalMessageRefused):
        message_frame(message())  # type: ignore[arg-type]
    note = message(visibility=Visibility.INTERNAL, text="customer is rude")
    with pytest.raises(InternalMessageRefused):
        message_frame(note)  # type: ignore[arg-type]
    with pytest.raises(InternalMessageRefused):
        public_view(note)


def test_a_public_message_cannot_be_forged_outside_the_gate() -> None:
    with pytest.raises(InternalMessageRefused):
        PublicMessage(
            id=1,
            conversation_id=1,
            author=Author.AGENT,
            author_name="Bea",
            text="note text",
            created_at=AT,
        )


def test_status_before_the_first_message_is_new() -> None:
    assert status_frame(None) == SERVER["status_new"]


def test_status_has_room_for_position_and_assignee() -> None:
    frame = status_frame(conversation(), position=3, assignee="Bea Agent")
    assert frame == SERVER["status_queued"]
    resolved = status_frame(conversation(ConversationStatus.RESOLVED))
    assert resolved == {"type": "status", "state": "resolved", "reference": "#12"}


def test_error_and_resumed_frames() -> None:
    frame = error_frame(
        "rate_limited",
        "too many messages; try again in 20 s",
        client_msg_id="c-4",
        retry_after=20,
    )
    assert frame == SERVER["rate_limited"]
    assert error_frame("malformed_frame", "bad") == {
        "type": "error",
        "reason": "malformed_frame",
        "message": "bad",
    }
    assert resumed_frame(40, more=True) == SERVER["resumed"]


def test_frames_encode_to_compact_utf8_json() -> None:
    encoded = encode_frame({"type": "message", "text": "olá"})
    assert encoded == '{"type":"message","text":"olá"}'


def test_first_name() -> None:
    assert first_name("Bea Agent") == "Bea"
    assert first_name("  Bea ") == "Bea"
    assert first_name("") == ""


# --- sessions ----------------------------------------------------------------------------


def test_an_empty_session_request_is_an_anonymous_visitor() -> None:
    wanted = parse_session_request(b"", None)
    assert (wanted.name, wanted.email, wanted.language) == ("Visitor", None, None)
    assert parse_session_request(b"  \n", None).name == "Visitor"
    assert parse_session_request(b"{}", None).name == "Visitor"


def test_session_fields_are_taken_as_given() -> None:
    body = json.dumps({"name": " Ana  Lima ", "email": "ana@example.com", "language": "pt-BR"})
    wanted = parse_session_request(body.encode(), "de")
    assert (wanted.name, wanted.email, wanted.language) == ("Ana Lima", "ana@example.com", "pt-BR")


def test_the_language_falls_back_to_accept_language() -> None:
    assert parse_session_request(b"{}", "de-CH, de;q=0.9, en;q=0.5").language == "de-CH"
    too_long = json.dumps({"language": "x" * 17}).encode()
    assert parse_session_request(too_long, "fr").language == "fr"
    odd = json.dumps({"language": "en_US<script>"}).encode()
    assert parse_session_request(odd, None).language is None


def test_malformed_json_is_its_own_error() -> None:
    with pytest.raises(MalformedJson):
        parse_session_request(b'{"name": ', None)


@pytest.mark.parametrize(
    "body",
    [
        [1],
        "Ana",
        {"name": 5},
        {"name": "x" * 101},
        {"email": "not-an-address"},
        {"email": "a@b"},
        {"email": "two@@example.com"},
        {"email": "spaced out@example.com"},
        {"email": 12},
        {"email": "a" * 310 + "@example.com"},
    ],
)
def test_unusable_session_fields_are_invalid_input(body: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_session_request(json.dumps(body).encode(), None)
    assert not isinstance(caught.value, MalformedJson)
    assert str(caught.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("en-US,en;q=0.9", "en-US"),
        ("*", None),
        ("*, fr;q=0.5", "fr"),
        ("es;q=0, pt", "pt"),
        ("zh-Hant-TW", "zh-Hant-TW"),
        ("not a tag!, de", "de"),
    ],
)
def test_pick_language(header: str | None, expected: str | None) -> None:
    assert pick_language(header) == expected


def test_session_response() -> None:
    body = session_response("wcs_secret", VISITOR, "Support")
    assert body == {
        "token": "wcs_secret",
        "visitor_id": "v_abc",
        "expires_at": "2026-01-05T09:00:00+00:00",
        "title": "Support",
    }


@pytest.mark.parametrize(
    ("zone", "kept"),
    [
        ("Europe/Lisbon", "Europe/Lisbon"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("UTC", "UTC"),
        ("Mars/Olympus_Mons", None),
        ("../../etc/passwd", None),
        (42, None),
        ("", None),
    ],
)
def test_the_browsers_time_zone_is_kept_when_real(zone: object, kept: str | None) -> None:
    wanted = parse_session_request(json.dumps({"timezone": zone}).encode(), None)
    assert wanted.timezone == kept
