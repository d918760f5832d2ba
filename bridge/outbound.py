"""What the core hands to adapters: a public message bound for one customer destination."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.gate import PublicMessage
from bridge.model import ThreadRef


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can do; the core asks for these, never for a channel's name."""

    edits: bool = False
    threads: bool = False
    attachments: bool = False
    typing: bool = False
    max_text_length: int | None = None
    #: A conversation happens live (chat), so short status and delay updates make sense;
    #: not for email.
    live_chat: bool = False


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One delivery attempt. ``message`` is a :class:`PublicMessage`: only the gate makes one."""

    delivery_id: int
    idempotency_key: str
    destination: ThreadRef
    message: PublicMessage
    attempt: int
    reply_to_external_id: str | None = None
    #: Set for an agent's edit of a message already sent: the platform id of what to change
    #: so that it shows ``message.text``.
    edit_of_external_id: str | None = None


@dataclass(frozen=True, slots=True)
class SentReceipt:
    """The platform's id for what was sent (for edits, replies and dedupe)."""

    external_id: str
