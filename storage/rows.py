"""Rows to model objects and back, for every repository."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bridge.model import (
    Agent,
    Attachment,
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Delivery,
    DeliveryState,
    Identity,
    Message,
    MessageEdit,
    Presence,
    Priority,
    Role,
    ThreadRef,
    Visibility,
)
from bridge.ports import OpenWait, WaitRecord

Row = Mapping[Any, Any]  # SQLAlchemy RowMapping, or a plain dict


def conversation(row: Row) -> Conversation:
    return Conversation(
        id=row["id"],
        customer_id=row["customer_id"],
        origin=ThreadRef(row["channel"], row["account"], row["thread_key"]),
        status=ConversationStatus(row["status"]),
        team=row["team"],
        tier=row["tier"],
        priority=Priority(row["priority"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        assignee_id=row["assignee_id"],
        assigned_at=row["assigned_at"],
        waiting_since=row["waiting_since"],
        first_response_at=row["first_response_at"],
        resolved_at=row["resolved_at"],
        promised_reply_at=row["promised_reply_at"],
        last_message_at=row["last_message_at"],
        previous_id=row["previous_id"],
        slack_thread=row["slack_thread"],
        version=row["version"],
    )


def conversation_values(c: Conversation) -> dict[str, Any]:
    """Every column but the id."""
    return {
        "customer_id": c.customer_id,
        "channel": c.origin.channel,
        "account": c.origin.account,
        "thread_key": c.origin.thread_key,
        "status": c.status.value,
        "team": c.team,
        "tier": c.tier,
        "priority": int(c.priority),
        "assignee_id": c.assignee_id,
        "assigned_at": c.assigned_at,
        "waiting_since": c.waiting_since,
        "first_response_at": c.first_response_at,
        "resolved_at": c.resolved_at,
        "promised_reply_at": c.promised_reply_at,
        "last_message_at": c.last_message_at,
        "previous_id": c.previous_id,
        "slack_thread": c.slack_thread,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "version": c.version,
    }


def attachments_json(items: Sequence[Attachment]) -> list[dict[str, Any]] | None:
    if not items:
        return None
    return [
        {"name": a.name, "content_type": a.content_type, "size": a.size, "key": a.storage_key}
        for a in items
    ]


def attachments(value: Any) -> tuple[Attachment, ...]:
    if not value:
        return ()
    return tuple(
        Attachment(
            name=str(a["name"]),
            content_type=str(a["content_type"]),
            size=int(a["size"]),
            storage_key=str(a["key"]),
        )
        for a in value
    )


def message(row: Row, edits: Iterable[MessageEdit] = ()) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        author=Author(row["author"]),
        author_name=row["author_name"],
        visibility=Visibility(row["visibility"]),
        text=row["text"],
        created_at=row["created_at"],
        author_id=row["author_id"],
        attachments=attachments(row["attachments"]),
        source=row["source"],
        external_id=row["external_id"],
        reply_to_id=row["reply_to_id"],
        edited=bool(row["edited"]),
        edits=tuple(edits),
        retracted=bool(row["retracted"]),
    )


def delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"],
        message_id=row["message_id"],
        conversation_id=row["conversation_id"],
        destination=ThreadRef(row["channel"], row["account"], row["thread_key"]),
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        external_id=row["external_id"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
        edit_of=row["edit_of"],
    )


def agent(row: Row) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        role=Role(row["role"]),
        tier=row["tier"],
        teams=tuple(row["teams"]),
        capacity=row["capacity"],
        presence=Presence(row["presence"]),
        created_at=row["created_at"],
        slack_user_id=row["slack_user_id"],
        last_assigned_at=row["last_assigned_at"],
    )


def customer(row: Row, identity_rows: Iterable[Row]) -> Customer:
    return Customer(
        id=row["id"],
        display_name=row["display_name"],
        language=row["language"],
        email=row["email"],
        created_at=row["created_at"],
        timezone=row["timezone"],
        identities=tuple(
            Identity(r["channel"], r["external_id"], bool(r["verified"])) for r in identity_rows
        ),
    )


def as_utc(value: Any) -> datetime:
    """A time read without its column type (an aggregate): SQLite returns text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a time: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def wait_record(row: Row) -> WaitRecord:
    return WaitRecord(
        channel=row["channel"],
        kind=row["kind"],
        started_at=row["started_at"],
        promise_made_at=row["promise_made_at"],
        promised_at=row["promised_at"],
        answered_at=row["answered_at"],
        closed_at=row["closed_at"],
        breached_at=row["breached_at"],
    )


def open_wait(row: Row) -> OpenWait:
    return OpenWait(
        conversation_id=row["conversation_id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        kind=row["kind"],
        started_at=row["started_at"],
        promised_at=row["promised_at"],
        breached_at=row["breached_at"],
    )
