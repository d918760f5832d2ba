from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.errors import InternalMessageRefused
from bridge.gate import PublicMessage, customer_view, plan_deliveries, public_view
from bridge.model import (
    Author,
    Conversation,
    ConversationStatus,
    Message,
    Priority,
    ThreadRef,
    Visibility,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)
THREAD = ThreadRef("telegram", "bot", "42")
CONVERSATION = Conversation(
    1, 7, THREAD, ConversationStatus.ASSIGNED, "support", 1, Priority.NORMAL, AT, AT
)


def message(n: int, visibility: Visibility, author: Author = Author.AGENT) -> Message:
    return Message(n, 1, author, "Bea", visibility, f"text {n}", AT)


def test_a_public_reply_gets_one_delivery_to_the_customers_own_channel() -> None:
    [planned] = plan_deliveries(message(5, Visibility.PUBLIC), CONVERSATION)
    assert planned.destination == THREAD
    assert planned.message_id == 5
    assert planned.idempotency_key == "m5:telegram:bot:42"


def test_an_internal_note_is_refused() -> None:
    with pytest.raises(InternalMessageRefused):
        plan_deliveries(message(5, Visibility.INTERNAL), CONVERSATION)
    with pytest.raises(InternalMessageRefused):
        public_view(message(5, Visibility.INTERNAL))


def test_customer_messages_are_not_sent_back_to_the_customer() -> None:
    assert plan_deliveries(message(5, Visibility.PUBLIC, Author.CUSTOMER), CONVERSATION) == ()


def test_a_message_of_another_conversation_is_refused() -> None:
    other = Message(5, 2, Author.AGENT, "Bea", Visibility.PUBLIC, "x", AT)
    with pytest.raises(ValueError, match="do not belong"):
        plan_deliveries(other, CONVERSATION)


def test_customer_view_drops_notes_and_keeps_order() -> None:
    history = [
        message(1, Visibility.PUBLIC, Author.CUSTOMER),
        message(2, Visibility.INTERNAL),
        message(3, Visibility.PUBLIC),
    ]
    view = customer_view(history)
    assert [m.id for m in view] == [1, 3]
    assert all(isinstance(m, PublicMessage) for m in view)
    assert not hasattr(view[0], "visibility")


def test_public_messages_cannot_be_made_outside_the_gate() -> None:
    with pytest.raises(InternalMessageRefused):
        PublicMessage(1, 1, Author.AGENT, "Bea", "psst", AT)
