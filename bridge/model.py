"""The core nouns: customers, conversations, messages, deliveries, agents, templates.

Everything here is a frozen, slotted dataclass so that a snapshot handed to an adapter, the
bus or a page can never be mutated behind the store's back. Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

#: The largest message text accepted from anyone, in UTF-8 bytes. Bigger texts are refused with
#: a clear error at the edge instead of being truncated silently.
MAX_TEXT_BYTES = 64 * 1024


class Author(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


class ConversationStatus(StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # a permanent error: the platform refused it; agents are told
    DEAD = "dead"  # transient errors until the retry budget ran out; agents are told
    CANCELLED = "cancelled"  # a held reply withdrawn before it went out


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    DND = "dnd"
    OFFLINE = "offline"


class Priority(IntEnum):
    """Lower values are served first."""

    URGENT = 1
    HIGH = 2
    NORMAL = 3
    LOW = 4


@dataclass(frozen=True, slots=True)
class ThreadRef:
    """Where a conversation lives on its channel.

    ``account`` distinguishes several bots or mailboxes of one channel; ``thread_key`` is the
    channel's own notion of a thread (a Telegram chat id, a root Message-ID, a Slack
    channel+thread ts, a web chat visitor id).
    """

    channel: str
    account: str
    thread_key: str

    @property
    def source(self) -> str:
        """The channel account key that external ids are unique within."""
        return source_key(self.channel, self.account)


def source_key(channel: str, account: str) -> str:
    return f"{channel}:{account}"


@dataclass(frozen=True, slots=True)
class Identity:
    channel: str
    external_id: str
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    display_name: str
    language: str | None
    email: str | None
    created_at: datetime
    identities: tuple[Identity, ...] = ()
    timezone: str | None = None  # IANA name, when the channel told us


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    customer_id: int
    origin: ThreadRef
    status: ConversationStatus
    team: str
    tier: int
    priority: Priority
    created_at: datetime
    updated_at: datetime
    assignee_id: int | None = None
    assigned_at: datetime | None = None
    waiting_since: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    promised_reply_at: datetime | None = None
    last_message_at: datetime | None = None
    previous_id: int | None = None
    slack_thread: str | None = None
    #: Bumped by every write, so that of two snapshots the newer is known.
    version: int = 1

    @property
    def reference(self) -> str:
        """The short public reference used in emails, acknowledgements and status pages."""
        return f"#{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status is not ConversationStatus.RESOLVED


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content_type: str
    size: int
    storage_key: str


@dataclass(frozen=True, slots=True)
class MessageEdit:
    previous_text: str
    edited_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    author: Author
    author_name: str
    visibility: Visibility
    text: str
    created_at: datetime
    author_id: int | None = None  # the customer's or agent's id; None for bot and system
    attachments: tuple[Attachment, ...] = ()
    source: str | None = None  # channel account key the message came from
    external_id: str | None = None  # the platform's id within ``source``
    reply_to_id: int | None = None
    edited: bool = False
    edits: tuple[MessageEdit, ...] = field(default=(), compare=False)
    #: A held reply withdrawn before it went out: agents still see it, customers never.
    retracted: bool = False

    @property
    def is_public(self) -> bool:
        return self.visibility is Visibility.PUBLIC


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the outbox: one public message to one customer destination."""

    id: int
    message_id: int
    conversation_id: int
    destination: ThreadRef
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    idempotency_key: str
    created_at: datetime
    external_id: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    #: Set on an edit delivery: the delivery whose platform message it changes.
    edit_of: int | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    name: str
    email: str
    role: Role
    tier: int
    teams: tuple[str, ...]
    capacity: int
    presence: Presence
    created_at: datetime
    slack_user_id: str | None = None
    #: When the agent last got a conversation; the longest idle agent wins a tie.
    last_assigned_at: datetime | None = None

    @property
    def is_supervisor(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    body: str
    language: str | None
    team: str | None
    created_at: datetime
