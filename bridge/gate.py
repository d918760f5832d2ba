"""The one gate between the conversation store and anything a customer can see.

An internal note that reaches a customer is the worst bug this product can have, so every
customer-facing path is built on the two types defined here, and only this module can make
them:

* :class:`PublicMessage` -- what channels, the web chat, the status page and email quoting
  render. :func:`public_view` refuses an internal message; :func:`customer_view` drops them.
* :class:`PlannedDelivery` -- the only thing the outbox store accepts as a new customer
  delivery row. :func:`plan_deliveries` is the only code that makes one, and it refuses
  internal messages.

Both types carry a seal that their constructors check, so building one anywhere else fails
at run time as well as in review. The database adds a trigger that refuses a delivery row for
an internal message, as a last line of defence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bridge.errors import InternalMessageRefused
from bridge.model import (
    Attachment,
    Author,
    Conversation,
    Delivery,
    DeliveryState,
    Message,
    ThreadRef,
    Visibility,
)

_SEAL = object()


@dataclass(frozen=True, slots=True)
class PublicMessage:
    """A message a customer may see. It has no visibility field: it is public by construction."""

    id: int
    conversation_id: int
    author: Author
    author_name: str
    text: str
    created_at: datetime
    attachments: tuple[Attachment, ...] = ()
    edited: bool = False
    reply_to_id: int | None = None
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            raise InternalMessageRefused("PublicMessage can only be made by bridge.gate")


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """A customer delivery row to be written in the same transaction as its message."""

    message_id: int
    conversation_id: int
    destination: ThreadRef
    idempotency_key: str
    #: An edit: the sent delivery whose platform message changes to the message's new text.
    edit_of: int | None = None
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            raise InternalMessageRefused("PlannedDelivery can only be made by bridge.gate")


def public_view(message: Message) -> PublicMessage:
    """The customer-facing form of ``message``; refuses an internal or withdrawn one."""
    if message.visibility is not Visibility.PUBLIC:
        raise InternalMessageRefused(f"message {message.id} is internal")
    if message.retracted:
        raise InternalMessageRefused(f"message {message.id} was withdrawn before it went out")
    return PublicMessage(
        id=message.id,
        conversation_id=message.conversation_id,
        author=message.author,
        author_name=message.author_name,
        text=message.text,
        created_at=message.created_at,
        attachments=message.attachments,
        edited=message.edited,
        reply_to_id=message.reply_to_id,
        _seal=_SEAL,
    )


def customer_view(messages: Iterable[Message]) -> tuple[PublicMessage, ...]:
    """A history as the customer may see it: internal notes and withdrawn replies are left
    out."""
    return tuple(
        public_view(m) for m in messages if m.visibility is Visibility.PUBLIC and not m.retracted
    )


def plan_deliveries(message: Message, conversation: Conversation) -> tuple[PlannedDelivery, ...]:
    """The customer deliveries for a new agent, bot or system message.

    The destination is the channel the customer wrote from, so a reply reaches them where
    they are. Customers' own messages are not sent back to them.
    """
    if message.visibility is not Visibility.PUBLIC:
        raise InternalMessageRefused(f"message {message.id} is internal; it has no deliveries")
    if message.conversation_id != conversation.id:
        raise ValueError("message and conversation do not belong together")
    if message.author is Author.CUSTOMER:
        return ()
    destination = conversation.origin
    return (
        PlannedDelivery(
            message_id=message.id,
            conversation_id=conversation.id,
            destination=destination,
            idempotency_key=f"m{message.id}:{destination.source}:{destination.thread_key}",
            _seal=_SEAL,
        ),
    )


def plan_edits(
    message: Message, sent: Iterable[Delivery], editable: Callable[[ThreadRef], bool]
) -> tuple[PlannedDelivery, ...]:
    """Edit deliveries for an agent's change to a public message already sent: one per sent
    delivery whose channel can edit what it sent. A delivery not sent yet needs none: it goes
    out with the new text."""
    if message.visibility is not Visibility.PUBLIC or message.retracted:
        raise InternalMessageRefused(f"message {message.id} is not public; nothing to edit")
    planned = []
    for delivery in sent:
        if delivery.message_id != message.id:
            raise ValueError("the delivery belongs to another message")
        # Sent, or being sent now (its edit queues behind it and learns its platform id).
        in_flight = delivery.state in (DeliveryState.SENT, DeliveryState.PENDING)
        if not in_flight or delivery.edit_of is not None:
            continue
        if not editable(delivery.destination):
            continue
        planned.append(
            PlannedDelivery(
                message_id=message.id,
                conversation_id=message.conversation_id,
                destination=delivery.destination,
                idempotency_key=f"{delivery.idempotency_key}:edit{len(message.edits)}",
                edit_of=delivery.id,
                _seal=_SEAL,
            )
        )
    return tuple(planned)
