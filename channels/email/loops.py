"""Mail loop safety: which messages a robot sent, and which are bounces of ours.

RFC 3834 (https://www.rfc-editor.org/rfc/rfc3834, section 2) says not to answer a message
automatically when it was itself automatic or went to a list. A message is flagged (the
router then sends no acknowledgement) when it has

* ``Auto-Submitted`` with any value but ``no`` (out-of-office, vacation, other robots);
* ``Precedence: bulk``, ``list`` or ``junk`` (the de-facto older convention);
* ``List-Id`` (RFC 2919) or ``List-Unsubscribe``: a list or newsletter;
* an empty ``Return-Path`` (``<>``): a bounce or other notification that must not be
  answered (RFC 5321, section 4.5.5);
* a mailer-daemon, postmaster or no-reply sender;
* ``X-Auto-Response-Suppress`` (Microsoft's way of asking not to be auto-answered).

Bounces: a delivery status notification (RFC 3464, ``multipart/report;
report-type=delivery-status``), or a mailer-daemon message carrying the original message or
its headers. They name the Message-ID of a message we sent, so the delivery it refers to can
be marked failed; they never open a conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_string, policy
from email.message import Message

from channels.email.mime import ParsedEmail, msgids

_NO_REPLY = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?)([+\-_.].*)?$",
    re.IGNORECASE,
)
_DAEMON = re.compile(r"^(mailer-daemon|postmaster)([+\-_.].*)?$", re.IGNORECASE)


def _get(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:
        return ""  # present but unparseable still counts as present
    return None if value is None else str(value)


def automatic_reason(parsed: ParsedEmail) -> str | None:
    """Why this message must not be answered automatically; None when it may be."""
    message = parsed.message
    auto = _get(message, "Auto-Submitted")
    if auto is not None and auto.split(";")[0].strip().lower() != "no":
        return f"auto-submitted: {auto.split(';')[0].strip().lower() or '(empty)'}"
    precedence = (_get(message, "Precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"precedence: {precedence}"
    if _get(message, "List-Id") is not None:
        return "mailing list (List-Id)"
    if _get(message, "List-Unsubscribe") is not None:
        return "mailing list (List-Unsubscribe)"
    return_path = _get(message, "Return-Path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        return "empty Return-Path"
    local = parsed.from_address.split("@", 1)[0]
    if not parsed.from_address:
        return "no sender address"
    if _NO_REPLY.match(local):
        return f"sender {local}"
    if _get(message, "X-Auto-Response-Suppress") is not None:
        return "X-Auto-Response-Suppress"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _get(message, name) is not None:
            return name
    return None


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery report about mail we sent."""

    original_message_ids: tuple[str, ...]
    reason: str
    failed: bool  # False for "delayed" and "relayed" reports: not a failure (yet)


def bounce_of(parsed: ParsedEmail) -> Bounce | None:
    """The bounce this message is, or None for a message from a person."""
    message = parsed.message
    try:
        content_type = message.get_content_type()
        report_type = (message.get_param("report-type") or "").__str__().lower()
    except Exception:
        content_type, report_type = "", ""
    is_report = content_type == "multipart/report" and report_type == "delivery-status"
    from_daemon = bool(_DAEMON.match(parsed.from_address.split("@", 1)[0]))
    if not is_report and not from_daemon:
        return None
    originals: list[str] = []
    status = diagnostic = action = ""
    for part in _parts(message):
        kind = _content_type(part)
        if kind == "message/delivery-status":
            fields = _status_fields(part)
            status = status or fields.get("status", "")
            diagnostic = diagnostic or fields.get("diagnostic-code", "")
            action = action or fields.get("action", "").lower()
        elif kind in ("message/rfc822", "message/global"):
            originals += _ids_of_attached(part)
        elif kind == "text/rfc822-headers":
            originals += _ids_of_headers(part)
    if not is_report and not originals:
        return None  # a daemon's other mail (a digest, a notice): not about our message
    reason = " ".join(" ".join(item.split()) for item in (status, diagnostic) if item)
    if not reason:
        reason = _first_line(parsed.text) or "the message could not be delivered"
    return Bounce(
        original_message_ids=tuple(dict.fromkeys(originals)),
        reason=reason[:500],
        failed=action not in ("delayed", "relayed", "delivered", "expanded"),
    )


def _parts(message: Message) -> list[Message]:
    try:
        return list(message.walk())
    except Exception:
        return [message]


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return ""


def _status_fields(part: Message) -> dict[str, str]:
    """The per-message and per-recipient fields of a message/delivery-status part; the
    parser gives them as a list of header blocks, or as text when it could not."""
    fields: dict[str, str] = {}
    try:
        payload = part.get_payload()
    except Exception:
        return fields
    blocks: list[Message] = []
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
    elif isinstance(payload, str):
        blocks = [message_from_string(chunk) for chunk in re.split(r"\n\s*\n", payload)]
    for block in blocks:
        for name in ("Status", "Diagnostic-Code", "Action", "Final-Recipient"):
            value = _get(block, name)
            if value and name.lower() not in fields:
                fields[name.lower()] = value.strip()
    return fields


def _ids_of_attached(part: Message) -> list[str]:
    try:
        inner = part.get_payload()
    except Exception:
        return []
    if isinstance(inner, list) and inner and isinstance(inner[0], Message):
        return msgids(_get(inner[0], "Message-ID") or "")[:1]
    if isinstance(inner, str):
        return _ids_of_text(inner)
    return []


def _ids_of_headers(part: Message) -> list[str]:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return _ids_of_text(text)


def _ids_of_text(text: str) -> list[str]:
    headers = message_from_string(text, policy=policy.compat32)
    return msgids(str(headers.get("Message-ID", "")))[:1]


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
