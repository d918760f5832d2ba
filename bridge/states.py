"""The conversation state machine, as pure functions over the model.

::

    (new) --customer--> queued --assign--> assigned --idle, agent waits--> pending_customer
                          ^  ^                                                     |
                          |  +-------------------customer writes-------------------+
                          +----reopen----- resolved <--resolve-- (any open state)

Storage applies these inside its transactions; keeping them here means the rules are tested
once, without a database, and read the same for every store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bridge.model import Conversation, ConversationStatus
from bridge.ports import ConversationPolicy


@dataclass(frozen=True, slots=True)
class Open:
    """Start a new conversation (linked to ``previous_id`` when the thread had one)."""

    previous_id: int | None


@dataclass(frozen=True, slots=True)
class Continue:
    """The message joins ``conversation`` (already updated for it)."""

    conversation: Conversation
    reopened: bool


def after_customer_message(
    current: Conversation | None, at: datetime, policy: ConversationPolicy
) -> Open | Continue:
    """What a customer's message does to the thread's latest conversation."""
    if current is None:
        return Open(previous_id=None)
    if current.status is ConversationStatus.RESOLVED:
        resolved_at = current.resolved_at or current.updated_at
        if at - resolved_at > policy.reopen_window:
            return Open(previous_id=current.id)
        reopened = replace(
            current,
            status=ConversationStatus.QUEUED,
            assignee_id=None,
            assigned_at=None,
            waiting_since=at,
            resolved_at=None,
            last_message_at=at,
            updated_at=at,
            version=current.version + 1,
        )
        return Continue(reopened, reopened=True)
    if current.status is ConversationStatus.PENDING_CUSTOMER:
        # Back to the queue; the router hands it out again (to an agent with room: a
        # conversation waiting on the customer did not count against its agent's capacity).
        returning = replace(
            current,
            status=ConversationStatus.QUEUED,
            assignee_id=None,
            assigned_at=None,
            waiting_since=current.created_at if policy.returning_position == "front" else at,
            last_message_at=at,
            updated_at=at,
            version=current.version + 1,
        )
        return Continue(returning, reopened=False)
    status = current.status
    updated = replace(
        current,
        status=status,
        # The customer now waits for an agent, from their first unanswered message on.
        waiting_since=current.waiting_since or at,
        last_message_at=at,
        updated_at=at,
        version=current.version + 1,
    )
    return Continue(updated, reopened=False)


def after_public_agent_reply(current: Conversation, at: datetime) -> Conversation:
    """A public reply answers the customer: they no longer wait, and the first response is
    recorded once. (An answered conversation nobody holds is not waiting in the live queue
    either, until the customer writes again.)"""
    return replace(
        current,
        waiting_since=None,
        first_response_at=current.first_response_at or at,
        last_message_at=at,
        updated_at=at,
        version=current.version + 1,
    )


def after_status_change(
    current: Conversation, status: ConversationStatus, at: datetime
) -> Conversation:
    if status is ConversationStatus.RESOLVED:
        return replace(
            current,
            status=status,
            resolved_at=at,
            waiting_since=None,
            updated_at=at,
            version=current.version + 1,
        )
    if status is ConversationStatus.PENDING_CUSTOMER:
        return replace(current, status=status, updated_at=at, version=current.version + 1)
    if current.status is ConversationStatus.RESOLVED:
        # Reopened by an agent: the customer is waiting again.
        return replace(
            current,
            status=status,
            resolved_at=None,
            waiting_since=current.waiting_since or at,
            updated_at=at,
            version=current.version + 1,
        )
    return replace(current, status=status, updated_at=at, version=current.version + 1)
