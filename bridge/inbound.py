"""What adapters hand to the core: one normalized inbound message, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.errors import InvalidInput, TextTooLong
from bridge.model import (
    MAX_TEXT_BYTES,
    Attachment,
    Conversation,
    Message,
    ThreadRef,
)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message as the channel saw it.

    ``external_id`` is the platform's id for the message, unique within the channel account
    (``thread.source``); it is what makes a redelivered webhook or a resent frame a no-op.
    """

    thread: ThreadRef
    external_id: str
    sender_id: str  # the customer's id on the channel (Telegram user id, address, visitor id)
    sender_name: str
    text: str
    received_at: datetime
    language: str | None = None
    email: str | None = None
    #: True when the channel proved the address belongs to the sender, which allows linking
    #: the customer's identities across channels automatically.
    email_verified: bool = False
    attachments: tuple[Attachment, ...] = ()
    #: Channels clear this for auto-replies, bulk mail and the like, so the router does not
    #: answer a machine.
    auto_reply_allowed: bool = True
    reply_to_external_id: str | None = None

    def __post_init__(self) -> None:
        if not self.external_id:
            raise InvalidInput("external_id is required")
        if not self.sender_id:
            raise InvalidInput("sender_id is required")
        if self.received_at.tzinfo is None:
            raise InvalidInput("received_at must be timezone-aware")
        check_body(self.text, self.attachments)


@dataclass(frozen=True, slots=True)
class InboundEdit:
    """A customer changed a message they had sent (``external_id`` within ``source``)."""

    source: str
    external_id: str
    text: str
    edited_at: datetime

    def __post_init__(self) -> None:
        if self.edited_at.tzinfo is None:
            raise InvalidInput("edited_at must be timezone-aware")
        check_body(self.text, ())


@dataclass(frozen=True, slots=True)
class IngestResult:
    message: Message
    conversation: Conversation
    duplicate: bool = False  # the external id was seen before; nothing was written
    opened: bool = False  # a new conversation started with this message
    reopened: bool = False  # a resolved conversation came back to life
    auto_reply_allowed: bool = True
    language_hint: str | None = None


def check_body(text: str, attachments: tuple[Attachment, ...] = ()) -> None:
    """Refuse a message body that cannot be stored, with a reason a person can act on."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" in JSON): no database or platform can hold it.
        raise InvalidInput("text is not valid Unicode (it has a lone surrogate)") from None
    if size > MAX_TEXT_BYTES:
        raise TextTooLong(f"text is {size} bytes; the limit is {MAX_TEXT_BYTES} bytes (64 KB)")
    if not text.strip() and not attachments:
        raise InvalidInput("text is empty")
