"""Replies that wait to be delivered, for agents: ``GET /api/deliveries/waiting`` and the
banner on the inbox and the dashboard ("7 replies waiting to be delivered: slack 5 (rate
limited, next try 12:03:10 UTC), email 2 (SMTP unreachable)").

Each message already carries its own delivery state on the conversation page; this is the
view across conversations, so that during an outage agents know which customers have not
heard back yet, and why, without opening every conversation. Reasons are the channels' own
words (:class:`bridge.errors.TransientChannelError`); the page escapes them like everything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bridge.errors import InvalidInput
from bridge.ports import WaitingDeliveries, WaitingDestination
from web.api import int_param
from web.services import WebServices

DEFAULT_ITEMS = 50
MAX_ITEMS = 500
#: A reason longer than this is cut in the banner (the API gives it whole).
REASON_SHOWN = 120


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _clock(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%H:%M:%S UTC")


def _short(reason: str | None) -> str:
    if not reason:
        return "not sent yet"
    text = " ".join(reason.split())
    return text if len(text) <= REASON_SHOWN else text[: REASON_SHOWN - 1] + "\u2026"


def _replies(count: int) -> str:
    return f"{count} {'reply' if count == 1 else 'replies'}"


def destination_summary(d: WaitingDestination, now: datetime) -> str:
    """``slack 5 (rate limited, next try 12:03:10 UTC)``."""
    label = d.channel if d.account == "default" else d.source
    detail = _short(d.reason)
    if d.next_attempt_at is not None and d.next_attempt_at > now:
        detail += f", next try {_clock(d.next_attempt_at)}"
    return f"{label} {d.count} ({detail})"


def summary(waiting: WaitingDeliveries, now: datetime) -> str:
    """One sentence for people; empty when nothing waits."""
    if not waiting.total:
        return ""
    parts = ", ".join(destination_summary(d, now) for d in waiting.destinations)
    return f"{_replies(waiting.total)} waiting to be delivered: {parts}"


def waiting_json(waiting: WaitingDeliveries, now: datetime) -> dict[str, Any]:
    return {
        "total": waiting.total,
        "summary": summary(waiting, now),
        "destinations": [
            {
                "channel": d.channel,
                "account": d.account,
                "count": d.count,
                "reason": d.reason,
                "next_attempt_at": _iso(d.next_attempt_at),
                "oldest_created_at": _iso(d.oldest_created_at),
                "conversation_ids": list(d.conversation_ids),
                "summary": destination_summary(d, now),
            }
            for d in waiting.destinations
        ],
        "items": [
            {
                "delivery_id": i.delivery_id,
                "message_id": i.message_id,
                "conversation_id": i.conversation_id,
                "reference": f"#{i.conversation_id}",
                "channel": i.destination.channel,
                "account": i.destination.account,
                "attempts": i.attempts,
                "reason": i.reason,
                "next_attempt_at": _iso(i.next_attempt_at),
                "created_at": _iso(i.created_at),
            }
            for i in waiting.items
        ],
    }


def banner(waiting: WaitingDeliveries, now: datetime) -> dict[str, Any]:
    """What ``_waiting.html`` shows (it escapes every value)."""
    return {
        "total": waiting.total,
        "headline": f"{_replies(waiting.total)} waiting to be delivered" if waiting.total else "",
        "destinations": [
            {
                "channel": d.channel,
                "summary": destination_summary(d, now),
                "conversations": list(d.conversation_ids),
            }
            for d in waiting.destinations
        ],
    }


class DeliveryRoutes:
    def __init__(self, services: WebServices) -> None:
        self._services = services

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/deliveries/waiting", self.waiting)]

    async def read(self, limit: int = DEFAULT_ITEMS) -> WaitingDeliveries:
        inbox = self._services.inbox
        return await inbox.deliveries.waiting(
            self._services.clock.now(),
            overdue_after=inbox.settings.delivery_overdue_after,
            limit=limit,
        )

    async def waiting(self, request: web.Request) -> web.Response:
        limit = int_param(request, "limit", DEFAULT_ITEMS)
        assert limit is not None
        if not 1 <= limit <= MAX_ITEMS:
            raise InvalidInput(f"limit must be between 1 and {MAX_ITEMS}")
        found = await self.read(limit)
        return web.json_response(waiting_json(found, self._services.clock.now()))
