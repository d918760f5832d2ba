"""Pure conversions for the web chat: frames <-> the model, and the session request.

Nothing here does I/O, so every rule about what a browser may send and what it receives is
tested on recorded frames without a socket (``tests/webchat/frames/``).

Frames are JSON objects with a ``type`` (DESIGN.md, "Web chat frames"). Client to server::

    {"type": "message", "text": ..., "client_msg_id": ...}
    {"type": "resume", "after_id": N}
    {"type": "typing"}

Server to client: ``message``, ``status``, ``error`` and ``resumed`` frames, built by the
``*_frame`` functions below. A message frame is built from a :class:`bridge.gate.PublicMessage`
only, which only the gate can make: an internal note cannot become a frame.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.errors import InternalMessageRefused, InvalidInput, TextTooLong
from bridge.gate import PublicMessage
from bridge.inbound import InboundMessage, check_body
from bridge.model import Author, Conversation
from bridge.ports import Visitor

#: Longest ``client_msg_id`` accepted; it becomes part of the stored external id.
MAX_CLIENT_MSG_ID = 100
MAX_NAME = 100
MAX_EMAIL = 320  # RFC 3696 errata: 64 for the local part, 1 for "@", 255 for the domain
MAX_LANGUAGE = 16
MAX_TIMEZONE = 64
DEFAULT_NAME = "Visitor"

#: Plausible, not proven: one "@", no spaces, a dot in the domain. The address is stored as
#: typed and marked unverified; it never links this visitor to another customer's history.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_LANGUAGE = re.compile(r"^[A-Za-z0-9-]+$")
_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")


# --- client frames -----------------------------------------------------------------------


class FrameError(Exception):
    """A client frame that cannot be accepted; becomes an ``error`` frame, not a disconnect.

    ``reason`` is the machine code sent to the widget (``malformed_frame``, ``unknown_type``,
    ``invalid_input``, ``text_too_long``); ``client_msg_id`` is echoed when the frame had a
    usable one, so the widget knows which pending message failed.
    """

    def __init__(self, reason: str, message: str, *, client_msg_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.client_msg_id = client_msg_id


@dataclass(frozen=True, slots=True)
class MessageFrame:
    text: str
    client_msg_id: str | None  # None: the client did not ask for an idempotent resend


@dataclass(frozen=True, slots=True)
class ResumeFrame:
    after_id: int


@dataclass(frozen=True, slots=True)
class TypingFrame:
    pass


@dataclass(frozen=True, slots=True)
class CsatFrame:
    """The visitor's 1-5 rating of their resolved conversation (the widget's buttons)."""

    rating: int
    comment: str | None = None


MAX_CSAT_COMMENT = 1000

ClientFrame = MessageFrame | ResumeFrame | TypingFrame | CsatFrame


def parse_client_frame(raw: str) -> ClientFrame:
    """Parse and validate one text frame from the widget; raises :class:`FrameError`."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise FrameError("malformed_frame", "a frame must be a JSON object") from None
    if not isinstance(data, dict):
        raise FrameError("malformed_frame", "a frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise FrameError("malformed_frame", 'a frame needs a string "type"')
    if kind == "message":
        return _message_frame(data)
    if kind == "resume":
        after_id = data.get("after_id", 0)
        # bool is an int in Python; true/false is not an id.
        if not isinstance(after_id, int) or isinstance(after_id, bool) or after_id < 0:
            raise FrameError("malformed_frame", '"after_id" must be an integer >= 0')
        return ResumeFrame(after_id)
    if kind == "typing":
        return TypingFrame()
    if kind == "csat":
        rating = data.get("rating")
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise FrameError("invalid_input", '"rating" must be a whole number from 1 to 5')
        comment = data.get("comment")
        if comment is not None and (
            not isinstance(comment, str) or len(comment) > MAX_CSAT_COMMENT
        ):
            raise FrameError(
                "invalid_input", f'"comment" must be text of at most {MAX_CSAT_COMMENT} characters'
            )
        return CsatFrame(rating, comment.strip() or None if comment else None)
    raise FrameError("unknown_type", f"unknown frame type {kind[:40]!r}")


def _message_frame(data: dict[str, Any]) -> MessageFrame:
    client_msg_id = data.get("client_msg_id")
    if client_msg_id is not None and (
        not isinstance(client_msg_id, str)
        or not client_msg_id
        or len(client_msg_id) > MAX_CLIENT_MSG_ID
    ):
        raise FrameError(
            "malformed_frame",
            f'"client_msg_id" must be a non-empty string of at most {MAX_CLIENT_MSG_ID} characters',
        )
    text = data.get("text")
    if not isinstance(text, str):
        raise FrameError("malformed_frame", '"text" must be a string', client_msg_id=client_msg_id)
    try:
        check_body(text)
    except TextTooLong as error:
        raise FrameError("text_too_long", str(error), client_msg_id=client_msg_id) from None
    except InvalidInput as error:
        raise FrameError("invalid_input", str(error), client_msg_id=client_msg_id) from None
    return MessageFrame(text, client_msg_id)


def inbound_message(
    visitor: Visitor, text: str, client_msg_id: str, now: datetime
) -> InboundMessage:
    """The core's form of a visitor's message.

    The external id is the visitor's id plus the widget's ``client_msg_id``, so a resend of
    the same message after a reconnect is deduplicated by the store.
    """
    visitor_id = visitor.thread.thread_key
    return InboundMessage(
        thread=visitor.thread,
        external_id=f"{visitor_id}:{client_msg_id}",
        sender_id=visitor_id,
        sender_name=visitor.display_name,
        text=text,
        received_at=now,
        language=visitor.language,
    )


# --- server frames -----------------------------------------------------------------------


def first_name(name: str) -> str:
    """Agents are shown to customers by first name only."""
    parts = name.split()
    return parts[0] if parts else name


def message_frame(message: PublicMessage, *, client_msg_id: str | None = None) -> dict[str, Any]:
    """A message as the widget renders it.

    Accepts a :class:`PublicMessage` and nothing else, checked at run time too: a
    :class:`bridge.model.Message` (which may be an internal note) is refused whatever the
    caller's annotations claimed.
    """
    candidate: object = message
    if not isinstance(candidate, PublicMessage):
        raise InternalMessageRefused(
            "web chat frames are built from bridge.gate.PublicMessage only"
        )
    author_name = message.author_name
    if message.author is Author.AGENT:
        author_name = first_name(author_name)
    frame: dict[str, Any] = {
        "type": "message",
        "id": message.id,
        "author": message.author.value,
        "author_name": author_name,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }
    if message.edited:
        frame["edited"] = True
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    return frame


def status_frame(
    conversation: Conversation | None,
    *,
    position: int | None = None,
    assignee: str | None = None,
    eta_seconds: float | None = None,
) -> dict[str, Any]:
    """The visitor's conversation state; ``new`` before their first message.

    ``position`` (place in the queue), ``eta_seconds`` (the expected wait, rounded up to a
    minute so the widget never shows less than the estimate) and ``assignee`` (the agent's
    name, shown by first name) come from the router when it knows them.
    """
    frame: dict[str, Any] = {
        "type": "status",
        "state": conversation.status.value if conversation is not None else "new",
        "reference": conversation.reference if conversation is not None else None,
    }
    if position is not None:
        frame["position"] = position
    if assignee is not None:
        frame["assignee"] = first_name(assignee)
    if eta_seconds is not None:
        frame["eta_seconds"] = max(60, 60 * -(-int(eta_seconds) // 60))
    return frame


def csat_frame(conversation: Conversation, rating: int) -> dict[str, Any]:
    """The rating was recorded (the widget thanks the visitor and hides the buttons)."""
    return {
        "type": "csat",
        "state": "recorded",
        "reference": conversation.reference,
        "rating": rating,
    }


def error_frame(
    reason: str,
    message: str,
    *,
    client_msg_id: str | None = None,
    retry_after: int | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "reason": reason, "message": message}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame


def resumed_frame(last_id: int, more: bool) -> dict[str, Any]:
    """Ends a catch-up; ``more`` asks the widget to resume again from ``last_id``."""
    return {"type": "resumed", "last_id": last_id, "more": more}


def encode_frame(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


# --- sessions ----------------------------------------------------------------------------


class MalformedJson(InvalidInput):
    code = "malformed_json"


@dataclass(frozen=True, slots=True)
class SessionRequest:
    name: str
    email: str | None
    language: str | None
    timezone: str | None = None


def parse_session_request(body: bytes, accept_language: str | None) -> SessionRequest:
    """Validate ``POST /webchat/sessions``; an empty body asks for an anonymous visitor.

    Raises :class:`MalformedJson` for a body that is not JSON and :class:`InvalidInput` for a
    field that cannot be used, each with a sentence for the site's developer.
    """
    data: object = {}
    if body.strip():
        try:
            data = json.loads(body)
        except ValueError:
            raise MalformedJson("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")

    name = data.get("name")
    if name is None:
        name = DEFAULT_NAME
    if not isinstance(name, str):
        raise InvalidInput('"name" must be a string')
    name = " ".join(name.split())  # no newlines or runs of spaces in a display name
    if len(name) > MAX_NAME:
        raise InvalidInput(f'"name" must be at most {MAX_NAME} characters')

    email = data.get("email")
    if email is not None:
        if not isinstance(email, str):
            raise InvalidInput('"email" must be a string')
        email = email.strip() or None
    if email is not None and (len(email) > MAX_EMAIL or not _EMAIL.match(email)):
        raise InvalidInput(f'"email" must be an email address of at most {MAX_EMAIL} characters')

    language = data.get("language")
    if not is_language_tag(language):
        language = pick_language(accept_language)
    assert language is None or isinstance(language, str)
    # The browser's zone (Intl), so opening hours are told in the visitor's own time; a zone
    # this server does not know is dropped rather than refused: the chat matters more.
    timezone = data.get("timezone")
    if timezone is not None and not is_timezone(timezone):
        timezone = None
    return SessionRequest(
        name=name or DEFAULT_NAME, email=email, language=language, timezone=timezone
    )


def is_timezone(value: object) -> bool:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TIMEZONE:
        return False
    if not _TIMEZONE.match(value):
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def is_language_tag(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_LANGUAGE
        and _LANGUAGE.match(value) is not None
    )


def pick_language(accept_language: str | None) -> str | None:
    """The first usable tag of an ``Accept-Language`` header (RFC 9110, section 12.5.4).

    Browsers list the user's languages in order of preference, so the first tag is the one
    they want; ``*`` and tags refused with ``q=0`` are skipped.
    """
    if not accept_language:
        return None
    for item in accept_language.split(","):
        tag, _, params = item.partition(";")
        tag = tag.strip()
        if tag == "*" or not is_language_tag(tag):
            continue
        if _refused(params):
            continue
        return tag
    return None


def _refused(params: str) -> bool:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value.strip()) <= 0
            except ValueError:
                return True
    return False


def session_response(token: str, visitor: Visitor, title: str) -> dict[str, Any]:
    return {
        "token": token,
        "visitor_id": visitor.thread.thread_key,
        "expires_at": visitor.expires_at.isoformat(),
        "title": title,
    }
