"""What the inbox shows, as plain dicts: the same shapes feed the Jinja templates and the
JSON that ``inbox.js`` rebuilds the lists from, so a live update looks like a reload."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bridge.model import Author, Conversation, ConversationStatus, Message, Presence
from bridge.ports import CannedResponse, ConversationRow, DeliveryView
from web.canned import fill
from web.render import duration

STATUS_LABELS = {
    ConversationStatus.QUEUED: "In queue",
    ConversationStatus.ASSIGNED: "Assigned",
    ConversationStatus.PENDING_CUSTOMER: "Waiting on customer",
    ConversationStatus.RESOLVED: "Resolved",
}
PRESENCE_LABELS = (
    (Presence.ONLINE.value, "Online"),
    (Presence.AWAY.value, "Away"),
    (Presence.DND.value, "Do not disturb"),
    (Presence.OFFLINE.value, "Offline"),
)
AUTHOR_LABELS = {
    Author.CUSTOMER: "customer",
    Author.AGENT: "agent",
    Author.BOT: "bot",
    Author.SYSTEM: "system",
}


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def _since(value: datetime | None, now: datetime) -> str:
    return duration((now - value).total_seconds()) if value is not None else ""


def _until(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    left = (value - now).total_seconds()
    return duration(left) if left >= 0 else "overdue " + duration(-left)


def row_view(row: ConversationRow, now: datetime, due: datetime | None) -> dict[str, Any]:
    c = row.conversation
    waiting = c.waiting_since if c.is_open else None
    return {
        "id": c.id,
        "reference": c.reference,
        "customer_name": row.customer_name,
        "channel": c.origin.channel,
        "status": c.status.value,
        "status_label": STATUS_LABELS[c.status],
        "preview": row.preview or "",
        "unread": row.unread,
        "rating": row.rating,
        "waiting_since": iso(waiting),
        "waiting_for": _since(waiting, now),
        "due": iso(due if waiting else None),
        "due_in": _until(due, now) if waiting else "",
    }


def conversation_view(
    c: Conversation,
    *,
    now: datetime,
    due: datetime | None,
    assignee: str | None,
    rating: int | None,
    rating_comment: str | None,
) -> dict[str, Any]:
    waiting = c.waiting_since if c.is_open else None
    return {
        "id": c.id,
        "reference": c.reference,
        "status": c.status.value,
        "status_label": STATUS_LABELS[c.status],
        "channel": c.origin.channel,
        "account": c.origin.account,
        "thread_key": c.origin.thread_key,
        "team": c.team,
        "tier": c.tier,
        "assignee_label": f"with {assignee}" if assignee else "not assigned",
        "waiting_since": iso(waiting),
        "waiting_for": _since(waiting, now),
        "due": iso(due if waiting else None),
        "due_in": _until(due, now) if waiting else "",
        "rating": rating,
        "rating_comment": rating_comment,
    }


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def message_view(m: Message, delivery: DeliveryView | None = None) -> dict[str, Any]:
    internal = not m.is_public
    css = "note" if internal else AUTHOR_LABELS.get(m.author, "system")
    return {
        "id": m.id,
        "author": m.author.value,
        "author_name": m.author_name,
        "author_label": "internal note" if internal else AUTHOR_LABELS.get(m.author, ""),
        "visibility": m.visibility.value,
        "internal": internal,
        "css": css,
        "text": m.text,
        "created_at": iso(m.created_at),
        "time": m.created_at.astimezone(UTC).strftime("%d %b %H:%M"),
        "edited": m.edited,
        "retracted": m.retracted,
        "delivery": delivery.state if delivery is not None and not internal else "",
        "attachments": [
            {
                "name": a.name,
                "size": _size(a.size),
                "url": f"/api/files/{quote(a.storage_key)}?name={quote(a.name)}",
            }
            for a in m.attachments
        ],
    }


def history_blocks(
    history: Sequence[tuple[Conversation, Sequence[Message]]],
    current_id: int,
    deliveries: Mapping[int, DeliveryView],
) -> list[dict[str, Any]]:
    """The customer's conversations, oldest first, each with its messages."""
    return [
        {
            "id": c.id,
            "reference": c.reference,
            "channel": c.origin.channel,
            "status_label": STATUS_LABELS[c.status],
            "started": c.created_at.astimezone(UTC).strftime("%d %b %Y %H:%M"),
            "current": c.id == current_id,
            "messages": [message_view(m, deliveries.get(m.id)) for m in messages],
        }
        for c, messages in history
    ]


def template_views(
    templates: Sequence[CannedResponse], values: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "name": t.name,
            "body": fill(t.body, values),
            "checklist": list(t.checklist),
            "checklist_json": json.dumps(list(t.checklist), ensure_ascii=False),
        }
        for t in templates
    ]
