from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bridge.model import Conversation, ConversationStatus, Priority, ThreadRef
from bridge.ports import ConversationPolicy
from bridge.states import (
    Continue,
    Open,
    after_customer_message,
    after_public_agent_reply,
    after_status_change,
)

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = ConversationPolicy(reopen_window=timedelta(hours=24))
BASE = Conversation(
    9,
    1,
    ThreadRef("webchat", "d", "v"),
    ConversationStatus.QUEUED,
    "support",
    1,
    Priority.NORMAL,
    AT,
    AT,
    waiting_since=AT,
)


def test_no_conversation_opens_one() -> None:
    assert after_customer_message(None, AT, POLICY) == Open(previous_id=None)


def test_an_assigned_conversation_keeps_its_agent_and_starts_waiting() -> None:
    current = replace(BASE, status=ConversationStatus.ASSIGNED, assignee_id=3, waiting_since=None)
    later = AT + timedelta(minutes=5)
    decision = after_customer_message(current, later, POLICY)
    assert isinstance(decision, Continue)
    assert decision.conversation.status is ConversationStatus.ASSIGNED
    assert decision.conversation.assignee_id == 3
    assert decision.conversation.waiting_since == later


def test_waiting_since_is_the_first_unanswered_message() -> None:
    decision = after_customer_message(BASE, AT + timedelta(minutes=9), POLICY)
    assert isinstance(decision, Continue)
    assert decision.conversation.waiting_since == AT


def test_pending_customer_goes_back_to_the_queue_where_the_policy_says() -> None:
    pending = replace(
        BASE, status=ConversationStatus.PENDING_CUSTOMER, waiting_since=None, assignee_id=4
    )
    later = AT + timedelta(hours=1)
    front = after_customer_message(pending, later, POLICY)
    arrival = after_customer_message(pending, later, replace(POLICY, returning_position="arrival"))
    assert isinstance(front, Continue)
    assert isinstance(arrival, Continue)
    assert front.conversation.status is ConversationStatus.QUEUED
    assert front.conversation.assignee_id is None
    assert front.conversation.waiting_since == BASE.created_at
    assert arrival.conversation.waiting_since == later


def test_reopen_inside_the_window_and_a_new_conversation_after_it() -> None:
    resolved = after_status_change(BASE, ConversationStatus.RESOLVED, AT)
    assert resolved.waiting_since is None
    assert resolved.resolved_at == AT
    inside = after_customer_message(resolved, AT + timedelta(hours=24), POLICY)
    outside = after_customer_message(resolved, AT + timedelta(hours=24, seconds=1), POLICY)
    assert isinstance(inside, Continue)
    assert inside.reopened
    assert inside.conversation.status is ConversationStatus.QUEUED
    assert outside == Open(previous_id=9)


def test_a_public_reply_records_the_first_response_once() -> None:
    first = after_public_agent_reply(BASE, AT + timedelta(minutes=2))
    second = after_public_agent_reply(first, AT + timedelta(minutes=7))
    assert first.waiting_since is None
    assert second.first_response_at == AT + timedelta(minutes=2)
