"""JSON shapes of the agent API. Field names are part of the outside contract (DESIGN.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.model import Agent, Attachment, Conversation, Customer, Message
from bridge.ports import DeliveryView


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def conversation_json(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "reference": c.reference,
        "status": c.status.value,
        "channel": c.origin.channel,
        "account": c.origin.account,
        "customer_id": c.customer_id,
        "team": c.team,
        "tier": c.tier,
        "priority": c.priority.name.lower(),
        "assignee_id": c.assignee_id,
        "waiting_since": _time(c.waiting_since),
        "first_response_at": _time(c.first_response_at),
        "resolved_at": _time(c.resolved_at),
        "promised_reply_at": _time(c.promised_reply_at),
        "last_message_at": _time(c.last_message_at),
        "created_at": _time(c.created_at),
        "updated_at": _time(c.updated_at),
        "previous_id": c.previous_id,
    }


def attachment_json(a: Attachment) -> dict[str, Any]:
    return {
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "key": a.storage_key,
        "url": f"/api/files/{a.storage_key}",
    }


def message_json(m: Message, delivery: DeliveryView | None = None) -> dict[str, Any]:
    """A message as agents see it: notes included, marked by ``visibility``."""
    data: dict[str, Any] = {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "author": m.author.value,
        "author_id": m.author_id,
        "author_name": m.author_name,
        "visibility": m.visibility.value,
        "text": m.text,
        "created_at": _time(m.created_at),
        "edited": m.edited,
        "edits": [
            {"previous_text": e.previous_text, "edited_at": _time(e.edited_at)} for e in m.edits
        ],
        "attachments": [attachment_json(a) for a in m.attachments],
        "reply_to_id": m.reply_to_id,
        "retracted": m.retracted,
    }
    if delivery is not None:
        data["delivery"] = {
            "state": delivery.state,
            "attempts": delivery.attempts,
            "error": delivery.last_error,
        }
    return data


def customer_json(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "display_name": c.display_name,
        "language": c.language,
        "email": c.email,
        "identities": [
            {"channel": i.channel, "external_id": i.external_id, "verified": i.verified}
            for i in c.identities
        ],
    }


def agent_json(a: Agent) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "email": a.email,
        "role": a.role.value,
        "tier": a.tier,
        "teams": list(a.teams),
        "capacity": a.capacity,
        "presence": a.presence.value,
    }
