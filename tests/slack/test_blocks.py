"""What agents see in Slack: root messages, mirrored posts, the escalation form, reports."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.model import (
    Author,
    Conversation,
    ConversationStatus,
    Message,
    Priority,
    ThreadRef,
    Visibility,
)
from bridge.ports import QueueItem, QueueStatus
from channels.slack.alerts import AlertState
from channels.slack.blocks import (
    RootView,
    escalation_modal,
    mirrored,
    parse_escalation,
    queue_report,
    root_message,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CONVERSATION = Conversation(
    id=42,
    customer_id=7,
    origin=ThreadRef("webchat", "default", "v_1"),
    status=ConversationStatus.QUEUED,
    team="support",
    tier=1,
    priority=Priority.NORMAL,
    created_at=NOW,
    updated_at=NOW,
    waiting_since=NOW,
    promised_reply_at=NOW + timedelta(minutes=5),
)


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_queued_root_shows_customer_channel_reference_place_and_due_time() -> None:
    status = QueueStatus(ConversationStatus.QUEUED, 3, 240.0, None)
    text, blocks = root_message(RootView(CONVERSATION, "Ana <Lima>", status, None))
    rendered = json.dumps(blocks, ensure_ascii=False)
    assert "*Ana &lt;Lima&gt;* · Web chat · *#42*" in rendered
    assert "number 3 in line" in rendered
    assert f"<!date^{int((NOW + timedelta(minutes=5)).timestamp())}^" in rendered
    assert text == "#42 Ana <Lima> (Web chat): queued"
    assert buttons(blocks) == ["take", "resolve", "escalate"]
    assert all(e["value"] == "42" for b in blocks if b["type"] == "actions" for e in b["elements"])


def test_an_assigned_root_names_the_agent_and_a_resolved_one_offers_reopen() -> None:
    assigned = replace(CONVERSATION, status=ConversationStatus.ASSIGNED, assignee_id=5)
    _, blocks = root_message(RootView(assigned, "Ana", None, "Bea Santos"))
    assert "Assigned to Bea Santos" in json.dumps(blocks)
    assert buttons(blocks) == ["resolve", "escalate"]
    resolved = replace(CONVERSATION, status=ConversationStatus.RESOLVED, first_response_at=NOW)
    _, blocks = root_message(RootView(resolved, "Ana", None, None))
    assert "Resolved" in json.dumps(blocks)
    assert "First response:" in json.dumps(blocks)
    assert buttons(blocks) == ["reopen"]


def test_an_overdue_conversation_says_so() -> None:
    view = RootView(CONVERSATION, "Ana", None, None, overdue_since=NOW)
    assert "overdue" in json.dumps(root_message(view)[1])


def message(author: Author, visibility: Visibility = Visibility.PUBLIC, **kw: Any) -> Message:
    return Message(
        id=1,
        conversation_id=42,
        author=author,
        author_name=kw.pop("name", "Ana Lima"),
        visibility=visibility,
        text=kw.pop("text", "hi <!channel>"),
        created_at=NOW,
        **kw,
    )


def test_mirrored_posts_say_who_wrote_and_mark_notes_internal() -> None:
    customer = mirrored(message(Author.CUSTOMER), "telegram")
    assert (customer.username, customer.text) == ("Ana Lima (Telegram)", "hi &lt;!channel&gt;")
    agent = mirrored(message(Author.AGENT, name="Bea Santos", text="Hello"), "webchat")
    assert (agent.username, agent.text) == ("Bea Santos (agent)", "Hello")
    note = mirrored(message(Author.AGENT, Visibility.INTERNAL, name="Bea", text="x"), "webchat")
    assert note.text.startswith("🔒")
    assert "internal note" in note.username
    edited = mirrored(message(Author.CUSTOMER, edited=True, text="fixed"), "webchat")
    assert edited.text == "fixed _(edited)_"


def test_the_escalation_form_round_trips() -> None:
    modal = escalation_modal(CONVERSATION)
    assert modal["private_metadata"] == "42"
    assert modal["callback_id"] == "escalate"
    values = {
        "tier": {"tier": {"value": "2"}},
        "team": {"team": {"value": "billing"}},
        "note": {"note": {"value": " refund over limit "}},
    }
    form, errors = parse_escalation("42", values)
    assert errors == {}
    assert form is not None
    assert (form.conversation_id, form.tier, form.team, form.note) == (
        42,
        2,
        "billing",
        "refund over limit",
    )
    form, errors = parse_escalation("42", {"tier": {"tier": {"value": "two"}}})
    assert form is None
    assert set(errors) == {"tier", "note"}


def test_the_queue_report_lists_figures_and_the_next_in_line() -> None:
    items = [QueueItem(CONVERSATION, 1, 754.0, 60.0)]
    text = queue_report(items, 1, {"agents_online": 2}, 3)
    assert "*Queue:* 1 waiting · oldest wait 12 min" in text
    assert "*Agents online:* 2" in text
    assert "*SLA breaches (24 h):* 3" in text
    assert "1. #42 · Web chat · waiting 12 min" in text


def test_alerts_have_hysteresis() -> None:
    state = AlertState(max_length=10, max_wait=600, recovery_ratio=0.8)
    assert state.check(9, 100) is None
    assert state.check(10, 100) == "alert"
    assert state.check(12, 100) is None  # still bad: no second alert
    assert state.check(9, 100) is None  # below the threshold, not yet below 80 %
    assert state.check(7, 500) is None  # the wait is not below 80 % yet
    assert state.check(7, 400) == "recovered"
    assert state.check(5, 700) == "alert"
    off = AlertState(max_length=0, max_wait=0, recovery_ratio=0.8)
    assert off.check(10_000, 10_000) is None
