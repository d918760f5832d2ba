"""Pure conversions for email: a parsed message to an :class:`InboundMessage`, and a public
message to the MIME message that goes out.

Nothing here does I/O; ``tests/email/corpus/`` holds the recorded .eml files these are
tested on.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from bridge.errors import InternalMessageRefused
from bridge.gate import PublicMessage
from bridge.inbound import InboundMessage
from bridge.model import MAX_TEXT_BYTES, Attachment, Author, ThreadRef
from channels.email.mime import ParsedEmail
from channels.email.quotes import visible_text

CHANNEL = "email"
ORIGINAL_NAME = "original.eml"
_TRUNCATED = "\n\n[the message is longer; the whole text is in original.eml]"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An attachment that was not stored (too large, or refused by the file store)."""

    name: str
    size: int


def agent_text(parsed: ParsedEmail, *, new_thread: bool, skipped: Sequence[Skipped]) -> str:
    """What agents see of a message: the new text (no quoted history, no signature), the
    subject when it starts a thread, and a line per attachment that was not kept."""
    body = visible_text(parsed.text) if parsed.text else ""
    lines: list[str] = []
    if new_thread and parsed.subject:
        lines.append(f"Subject: {parsed.subject}")
        lines.append("")
    lines.append(body or "(no text)")
    lines.extend(
        f"[attachment too large: {item.name}, {human_size(item.size)}]" for item in skipped
    )
    return fit("\n".join(lines).strip())


def fit(text: str) -> str:
    """Cut a text to what a message may hold (the whole mail stays in original.eml)."""
    data = text.encode("utf-8")
    if len(data) <= MAX_TEXT_BYTES:
        return text
    room = MAX_TEXT_BYTES - len(_TRUNCATED.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + _TRUNCATED


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def inbound_message(
    parsed: ParsedEmail,
    thread: ThreadRef,
    *,
    text: str,
    attachments: tuple[Attachment, ...],
    received_at: datetime,
    verified: bool,
    auto_reply_allowed: bool,
    reply_to_external_id: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        thread=thread,
        external_id=parsed.message_id,
        sender_id=parsed.from_address,
        sender_name=parsed.from_name or parsed.from_address.split("@", 1)[0],
        text=text,
        received_at=received_at,
        language=parsed.language,
        email=parsed.from_address,
        email_verified=verified,
        attachments=attachments,
        auto_reply_allowed=auto_reply_allowed,
        reply_to_external_id=reply_to_external_id,
    )


# --- outgoing ----------------------------------------------------------------------------


def outgoing_message_id(idempotency_key: str, from_address: str, salt: str) -> str:
    """A Message-ID derived from the delivery's idempotency key: a retry after a send whose
    outcome was lost carries the same id, so the recipient's mail client shows it once."""
    domain = from_address.rsplit("@", 1)[-1] or "localhost"
    digest = hashlib.sha256(f"{salt}\0{from_address}\0{idempotency_key}".encode()).hexdigest()
    return f"bridge.{digest[:32]}@{domain}"


def sender_display(message: PublicMessage, from_name: str) -> str:
    """Agents sign by first name ("Bea (Support)"); bots as the team."""
    if message.author is Author.AGENT and message.author_name.strip():
        first = message.author_name.split()[0]
        return f"{first} ({from_name})" if from_name else first
    return from_name


def html_body(text: str) -> str:
    escaped = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\n")
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body><div style="font-family:sans-serif">{escaped}</div></body></html>'
    )


@dataclass(frozen=True, slots=True)
class FileData:
    name: str
    content_type: str
    data: bytes


def build_message(
    message: PublicMessage,
    *,
    to: str,
    from_address: str,
    from_name: str,
    subject: str,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    date: datetime,
    files: Sequence[FileData] = (),
    automatic: bool,
) -> EmailMessage:
    """The MIME message for one public message: text and HTML alternatives, attachments,
    threading headers. Takes a :class:`PublicMessage` only (checked at run time too)."""
    candidate: object = message
    if not isinstance(candidate, PublicMessage):
        raise InternalMessageRefused("email is built from bridge.gate.PublicMessage only")
    mail = EmailMessage()
    mail["From"] = formataddr((sender_display(message, from_name), from_address))
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        mail["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        mail["References"] = " ".join(f"<{item}>" for item in references)
    if automatic:
        # RFC 3834, section 5: marks the message as automatic so other robots do not answer
        # it; Exchange honours X-Auto-Response-Suppress for its out-of-office replies.
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(message.text)
    mail.add_alternative(html_body(message.text), subtype="html")
    for item in files:
        maintype, _, subtype = item.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        mail.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.name)
    return mail


def is_automatic(message: PublicMessage) -> bool:
    return message.author in (Author.BOT, Author.SYSTEM)
