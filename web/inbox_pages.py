"""``/inbox``: the queue, my conversations, search, and one conversation with the customer's
whole history and the composer; server-rendered, kept live by ``static/inbox.js``."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bridge.errors import NotFound
from bridge.model import Agent, ConversationStatus
from bridge.ports import ConversationQuery, DeliveryView
from web.api import current_agent
from web.deliveries import DeliveryRoutes, banner
from web.errors import parse_id
from web.flash import clear_flash, read_flash
from web.inbox_actions import InboxActions
from web.inbox_view import (
    PRESENCE_LABELS,
    STATUS_LABELS,
    conversation_view,
    history_blocks,
    row_view,
    template_views,
)
from web.render import Renderer
from web.services import WebServices
from web.sessions import Sessions, require_session

log = logging.getLogger(__name__)

QUEUE_SHOWN = 50
LIST_SIZE = 50
HISTORY_LIMIT = 500
CHANNELS = ("webchat", "telegram", "slack", "email")


@dataclass(frozen=True, slots=True)
class Filters:
    q: str = ""
    channel: str = ""
    status: str = ""
    team: str = ""
    tier: str = ""

    @classmethod
    def of(cls, query: Any) -> Filters:
        def get(name: str, size: int) -> str:
            return str(query.get(name, "")).strip()[:size]

        status = get("status", 24)
        if status and status not in {s.value for s in ConversationStatus}:
            status = ""
        tier = get("tier", 2)
        return cls(get("q", 200), get("channel", 32), status, get("team", 64), tier)

    def query(self) -> ConversationQuery:
        return ConversationQuery(
            text=self.q or None,
            channel=self.channel or None,
            status=ConversationStatus(self.status) if self.status else None,
            team=self.team or None,
            tier=int(self.tier) if self.tier.isdigit() and len(self.tier) < 10 else None,
            limit=LIST_SIZE,
        )

    def suffix(self) -> str:
        """The filters as a query-string tail, so opening a row keeps the search."""
        kept = {k: v for k, v in vars_of(self).items() if v}
        return "&" + urlencode(kept) if kept else ""


def vars_of(filters: Filters) -> dict[str, str]:
    return {f.name: getattr(filters, f.name) for f in fields(filters)}


class InboxPages:
    def __init__(self, services: WebServices, sessions: Sessions) -> None:
        self._services = services
        self._inbox = services.inbox
        self._sessions = sessions
        self._render = Renderer()
        self._deliveries = DeliveryRoutes(services)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/inbox", self.page),
            web.get("/api/inbox/lists", self.lists),
            *InboxActions(self._services, self._sessions).routes(),
        ]

    async def _queue_rows(self, agent: Agent) -> tuple[list[dict[str, Any]], int]:
        now = self._services.clock.now()
        items, total = self._services.queue.queue(limit=QUEUE_SHOWN)
        found = await self._inbox.inbox.rows([i.conversation.id for i in items], agent.id)
        due = self._inbox.response_due
        return [row_view(r, now, due(r.conversation)) for r in found], total

    async def _mine(self, agent: Agent) -> list[dict[str, Any]]:
        now = self._services.clock.now()
        found = await self._inbox.inbox.search(
            ConversationQuery(assignee_id=agent.id, limit=LIST_SIZE), agent.id
        )
        due = self._inbox.response_due
        return [row_view(r, now, due(r.conversation)) for r in found if r.conversation.is_open]

    async def lists(self, request: web.Request) -> web.Response:
        """The queue and the agent's own list as the page shows them, for live updates."""
        agent = current_agent(request)
        (queue, length), mine = await asyncio.gather(self._queue_rows(agent), self._mine(agent))
        return web.json_response({"queue": queue, "queue_length": length, "mine": mine})

    async def page(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        session = await require_session(self._sessions, request)
        agent = session.agent
        filters = Filters.of(request.query)
        now = self._services.clock.now()
        (queue, length), mine, found, waiting = await asyncio.gather(
            self._queue_rows(agent),
            self._mine(agent),
            self._inbox.inbox.search(filters.query(), agent.id),
            self._deliveries.read(),
        )
        context: dict[str, Any] = {
            "title": "Inbox",
            "page": "inbox",
            "agent": agent,
            "csrf_token": session.csrf_secret,
            "presences": PRESENCE_LABELS,
            "back": request.path_qs,
            "flash": read_flash(request),
            "waiting": banner(waiting, now),
            "queue": queue,
            "queue_length": length,
            "mine": mine,
            "everything": [
                row_view(r, now, self._inbox.response_due(r.conversation)) for r in found
            ],
            "filters": filters,
            "list_query": filters.suffix(),
            "channels": CHANNELS,
            "statuses": [(s.value, label) for s, label in STATUS_LABELS.items()],
            "open": None,
            "open_id": None,
            "mode": "note" if request.query.get("mode") == "note" else "reply",
        }
        raw = request.query.get("c", "")
        if raw:
            try:
                context |= await self._conversation(parse_id(raw, "c"), agent)
            except NotFound:
                context["flash"] = {"kind": "error", "text": f"No conversation {raw}."}
        response = self._render.page("inbox.html", started=started, **context)
        clear_flash(request, response)
        return response

    async def _conversation(self, conversation_id: int, agent: Agent) -> dict[str, Any]:
        store = self._services.conversations
        conversation = await store.get_conversation(conversation_id)
        customer, history, deliveries, rating, templates, live = await asyncio.gather(
            store.get_customer(conversation.customer_id),
            self._inbox.inbox.customer_history(conversation.customer_id, HISTORY_LIMIT),
            store.deliveries_for(conversation.id),
            self._inbox.ratings.rating_of(conversation.id),
            self._inbox.templates.list_templates(),
            self._inbox.dashboard.agent_loads(),
        )
        agents = [
            {
                "id": a.agent.id,
                "name": a.agent.name,
                "presence": a.agent.presence.value,
                "load": a.load,
                "capacity": a.agent.capacity,
            }
            for a in live
        ]
        names = {a.agent.id: a.agent.name for a in live}
        assignee: str | None = None
        if conversation.assignee_id is not None:
            assignee = names.get(conversation.assignee_id)
            if assignee is None:
                assignee = (await self._services.agents.get_agent(conversation.assignee_id)).name
        by_message: dict[int, DeliveryView] = {}
        for delivery in deliveries:
            by_message.setdefault(delivery.message_id, delivery)
        now = self._services.clock.now()
        newest = max((m.id for c, ms in history for m in ms if c.id == conversation.id), default=0)
        if newest:
            await self._inbox.inbox.mark_read(agent.id, conversation.id, newest, now)
        values = {
            "customer_name": customer.display_name,
            "agent_name": agent.name.split()[0] if agent.name.split() else agent.name,
            "reference": conversation.reference,
        }
        return {
            "open": conversation_view(
                conversation,
                now=now,
                due=self._inbox.response_due(conversation),
                assignee=assignee,
                rating=rating.rating if rating else None,
                rating_comment=rating.comment if rating else None,
            ),
            "open_id": conversation.id,
            # Idempotency of the composer: a form posted twice stores one message.
            "compose_key": secrets.token_urlsafe(16),
            "customer": customer,
            "history": history_blocks(history, conversation.id, by_message),
            "templates": template_views(templates, values),
            "agents": agents,
        }
