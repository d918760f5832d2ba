"""Events on the bus: what happened, after it was committed.

Every event is a frozen dataclass with a ``kind`` that subscribers filter on and that names it
on the wire (server-sent events now, Redis later). Events are published only after the
transaction that made them true has committed, so a subscriber can always read what an event
refers to.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from bridge.model import Agent, Conversation, DeliveryState, Message, ThreadRef


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"


@dataclass(frozen=True, slots=True)
class MessageAdded(Event):
    """A message was stored: a customer's, an agent's reply or note, a bot's."""

    kind: ClassVar[str] = "message.added"
    message: Message
    conversation: Conversation
    #: For a customer's message: whether it started the conversation or brought it back,
    #: whether the channel allows answering it automatically, and the platform's language.
    opened: bool = False
    reopened: bool = False
    auto_reply_allowed: bool = True
    language_hint: str | None = None


@dataclass(frozen=True, slots=True)
class MessageEdited(Event):
    """A message's text changed (a customer's edit, or an agent's); its history is kept."""

    kind: ClassVar[str] = "message.edited"
    message: Message
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class MessageRetracted(Event):
    """A held reply was withdrawn before it reached the customer."""

    kind: ClassVar[str] = "message.retracted"
    message: Message
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class ConversationOpened(Event):
    kind: ClassVar[str] = "conversation.opened"
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class ConversationReopened(Event):
    kind: ClassVar[str] = "conversation.reopened"
    conversation: Conversation


@dataclass(frozen=True, slots=True)
class ConversationUpdated(Event):
    """The conversation's state changed; ``reason`` says how (``resolved``, ``assigned``...)."""

    kind: ClassVar[str] = "conversation.updated"
    conversation: Conversation
    reason: str


@dataclass(frozen=True, slots=True)
class DeliveriesQueued(Event):
    """New outbox rows exist; dispatchers wake up."""

    kind: ClassVar[str] = "delivery.queued"
    conversation_id: int
    delivery_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DeliverySent(Event):
    kind: ClassVar[str] = "delivery.sent"
    delivery_id: int
    message_id: int
    conversation_id: int
    external_id: str
    #: Where it went; lets a process holding the customer's live connection push it when
    #: another process sent it.
    destination: ThreadRef | None = None


@dataclass(frozen=True, slots=True)
class DeliveryFailed(Event):
    """A customer will not get this message unless an agent acts; the reason says why."""

    kind: ClassVar[str] = "delivery.failed"
    delivery_id: int
    message_id: int
    conversation_id: int
    state: DeliveryState
    reason: str


@dataclass(frozen=True, slots=True)
class DeliveryRetrying(Event):
    """The platform did not take the message yet; it will be tried again at ``next_attempt_at``
    (agents see it as waiting)."""

    kind: ClassVar[str] = "delivery.retrying"
    delivery_id: int
    message_id: int
    conversation_id: int
    attempts: int
    reason: str
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class AgentUpdated(Event):
    """An agent's presence, capacity or teams changed."""

    kind: ClassVar[str] = "agent.updated"
    agent: Agent


@dataclass(frozen=True, slots=True)
class SlaBreached(Event):
    """A first or next response is overdue; raised once per waiting period."""

    kind: ClassVar[str] = "sla.breached"
    conversation_id: int
    response: str  # "first" or "next"
    channel: str
    team: str
    started_at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerTyping(Event):
    kind: ClassVar[str] = "customer.typing"
    thread: ThreadRef
    at: datetime


def to_plain(value: Any) -> Any:
    """A JSON-ready form of an event or model value (enums by value, times in ISO 8601)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def event_payload(event: Event) -> dict[str, Any]:
    payload: dict[str, Any] = to_plain(event)
    payload["kind"] = event.kind
    return payload
