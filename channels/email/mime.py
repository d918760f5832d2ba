"""Raw RFC 5322 bytes to a :class:`ParsedEmail`: headers decoded, body text, attachments.

Parsing never raises. The standard ``email`` package parses the structure (with the lenient
``compat32`` policy); headers are decoded here (RFC 2047 words, raw 8-bit bytes, unknown
charsets), and a body part whose charset is wrong or missing goes through
:mod:`channels.email.charsets`.

Body: the inline ``text/plain`` parts, in order; else the inline ``text/html`` parts turned
into text (:mod:`channels.email.htmltext`). Everything else with content is an attachment:
files, inline images of ``multipart/related``, and a forwarded ``message/rfc822`` (kept
whole as ``.eml``, not opened: its own quoted history is not ours to cut).
"""

from __future__ import annotations

import email.header
import email.utils
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser

from channels.email.charsets import decode_bytes, repair_header
from channels.email.htmltext import html_to_text

_MSGID = re.compile(r"<([^<>\s]+)>")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Part:
    """An attachment's bytes as they came in the mail."""

    name: str
    content_type: str
    data: bytes
    inline: bool = False


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    raw: bytes
    message: Message
    #: Without angle brackets; made up from a hash of the raw bytes when missing, so a
    #: message without one still deduplicates.
    message_id: str
    message_id_missing: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_address: str  # lower-cased; empty when there is no usable address
    from_name: str
    to: tuple[str, ...]
    subject: str
    date: datetime | None
    language: str | None
    text: str
    attachments: tuple[Part, ...]

    @property
    def referenced(self) -> tuple[str, ...]:
        """Ids this message answers, most relevant first: In-Reply-To, then References
        from the newest back to the root."""
        seen: list[str] = []
        for item in (*self.in_reply_to, *reversed(self.references)):
            if item not in seen and item != self.message_id:
                seen.append(item)
        return tuple(seen)


def parse(raw: bytes) -> ParsedEmail:
    # compat32 rather than policy.default: it parses no header until asked and never raises
    # on a malformed one, and it is several times faster (the import reads thousands of
    # mails); headers are decoded here, tolerantly (RFC 2047 words, raw 8-bit, bad charsets).
    message = BytesParser(policy=policy.compat32).parsebytes(raw)

    def header(name: str) -> str:
        try:
            return decode_raw_header(message.get(name))
        except Exception:
            return ""

    message_id_list = msgids(header("Message-ID"))
    missing = not message_id_list
    message_id = message_id_list[0] if message_id_list else synthetic_message_id(raw)
    name, address = _address(message)
    text, attachments = _body(message)
    return ParsedEmail(
        raw=raw,
        message=message,
        message_id=message_id,
        message_id_missing=missing,
        in_reply_to=tuple(msgids(header("In-Reply-To"))[:1]),
        references=tuple(msgids(header("References"))),
        from_address=address,
        from_name=name,
        to=tuple(a for _, a in _all_addresses(_raw_header(message, "To"))),
        subject=" ".join(header("Subject").split()),
        date=_date(header("Date")),
        language=_language(header("Content-Language")),
        text=text,
        attachments=tuple(attachments),
    )


def synthetic_message_id(raw: bytes) -> str:
    return f"{hashlib.sha256(raw).hexdigest()[:40]}@missing-message-id.invalid"


def msgids(value: str) -> list[str]:
    """The ids of a Message-ID, In-Reply-To or References header, without brackets."""
    found = _MSGID.findall(value or "")
    if not found and value and value.strip():
        # Some mailers drop the brackets; a bare token with an "@" is still an id.
        found = [token.strip("<>,;") for token in value.split() if "@" in token]
    return [item[:250] for item in found if item]


def _raw_header(message: Message, name: str) -> str:
    """A header as it came, except that raw 8-bit bytes are decoded (no RFC 2047 yet)."""
    try:
        # compat32 hands out a Header object instead of a str for raw 8-bit values.
        value: object = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        return decode_raw_header(value)
    return repair_header(str(value))


def decode_raw_header(value: object) -> str:
    """An RFC 2047 header value decoded without trusting it to be well-formed."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        chunks = email.header.decode_header(value)
    else:
        try:
            chunks = email.header.decode_header(str(value))
        except Exception:
            return repair_header(str(value))
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            parts.append(decode_bytes(chunk, charset))
        else:
            parts.append(repair_header(chunk))
    return " ".join("".join(parts).split())


def _all_addresses(value: str) -> list[tuple[str, str]]:
    try:
        pairs = email.utils.getaddresses([value])
    except Exception:
        return []
    return [(n.strip(), a.strip().lower()) for n, a in pairs if a and "@" in a]


def _address(message: Message) -> tuple[str, str]:
    """(display name, lower-cased address) of From; the name is decoded after the address
    list is split, so an encoded comma or quote in a name cannot break the parse."""
    pairs = _all_addresses(_raw_header(message, "From"))
    if not pairs:
        return "", ""
    name, address = pairs[0]
    return decode_raw_header(name).strip().strip('"'), address


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _language(value: str) -> str | None:
    first = value.split(",")[0].strip() if value else ""
    return first if _LANGUAGE.match(first) else None


# --- the body ----------------------------------------------------------------------------


def _body(message: Message) -> tuple[str, list[Part]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Part] = []
    for part in _leaves(message):
        _classify(part, plain, html, attachments)
    if plain:
        text = "\n\n".join(t.strip("\n") for t in plain)
    elif html:
        text = "\n\n".join(html_to_text(h) for h in html)
    else:
        text = ""
    return text.strip(), attachments


def _leaves(message: Message) -> list[Message]:
    """Every non-multipart part, not descending into attached messages."""
    result: list[Message] = []
    stack = [message]
    while stack:
        part = stack.pop(0)
        try:
            multipart = part.is_multipart() and part.get_content_maintype() == "multipart"
            children = part.get_payload() if multipart else None
        except Exception:
            multipart, children = False, None
        if multipart and isinstance(children, list):
            stack[0:0] = [c for c in children if isinstance(c, Message)]
        else:
            result.append(part)
    return result


def _classify(part: Message, plain: list[str], html: list[str], attachments: list[Part]) -> None:
    try:
        content_type = part.get_content_type()
        disposition = part.get_content_disposition()
    except Exception:
        content_type, disposition = "application/octet-stream", None
    filename = _filename(part)
    attached = disposition == "attachment" or filename is not None
    if content_type in ("text/plain", "text/html") and not attached:
        text = _text(part)
        if text.strip():
            (plain if content_type == "text/plain" else html).append(text)
        return
    if content_type in ("message/rfc822", "message/global"):
        data = _attached_message(part)
        name = filename or _eml_name(part)
        content_type = "message/rfc822"
    else:
        data = _payload(part)
        name = filename or _default_name(content_type, len(attachments) + 1)
    if data:
        inline = disposition == "inline" or part.get("Content-ID") is not None
        attachments.append(Part(name, content_type, data, inline=inline))


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    return raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else b""


def _text(part: Message) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(_payload(part), charset)


def _attached_message(part: Message) -> bytes:
    """The attached message as bytes; its raw payload when it cannot be re-serialised."""
    try:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes(policy=policy.compat32)
    except Exception:
        return _payload(part)
    return _payload(part)


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    name = _UNSAFE_NAME.sub("_", repair_header(decode_raw_header(name))).strip(" .")
    return name[:MAX_NAME] or None


def _eml_name(part: Message) -> str:
    try:
        inner = part.get_payload()
        first = inner[0] if isinstance(inner, list) and inner else None
        subject = str(first.get("Subject", "")) if isinstance(first, Message) else ""
    except Exception:
        subject = ""
    subject = _UNSAFE_NAME.sub("_", " ".join(subject.split())).strip(" .")
    return f"{subject[: MAX_NAME - 4] or 'forwarded message'}.eml"


_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "application/pdf": "pdf",
    "text/calendar": "ics",
    "text/plain": "txt",
    "text/html": "html",
}


def _default_name(content_type: str, number: int) -> str:
    return f"part-{number}.{_EXTENSIONS.get(content_type, 'bin')}"
