"""The inbox's JSON routes beside the core API: search, a customer's whole history, merging
customers, canned responses, unread marks and status page links."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bridge.errors import Forbidden, InvalidInput
from bridge.model import ConversationStatus
from bridge.ports import CannedResponse, ConversationQuery, ConversationRow
from web.api import MAX_PAGE, conversation_id, current_agent, int_param
from web.canned import check_template, fill, with_checklist
from web.errors import json_object, parse_id
from web.serialize import conversation_json, customer_json, message_json
from web.services import WebServices


def _int(value: object, name: str) -> int:
    return parse_id(value, f'"{name}"')


def row_json(row: ConversationRow) -> dict[str, Any]:
    return {
        **conversation_json(row.conversation),
        "customer_name": row.customer_name,
        "preview": row.preview,
        "unread": row.unread,
        "rating": row.rating,
    }


def template_json(t: CannedResponse) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "body": t.body,
        "checklist": list(t.checklist),
        "language": t.language,
        "team": t.team,
        "created_at": t.created_at.isoformat(),
    }


class InboxApi:
    def __init__(self, services: WebServices) -> None:
        self._services = services
        self._inbox = services.inbox

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/search", self.search),
            web.get(r"/api/customers/{id}", self.customer),
            web.post(r"/api/customers/{id}/merge", self.merge),
            web.get("/api/templates", self.templates),
            web.post("/api/templates", self.add_template),
            web.post(r"/api/templates/{id}/render", self.render_template),
            web.post(r"/api/conversations/{id}/read", self.read),
            web.post(r"/api/conversations/{id}/status-link", self.status_link),
            web.get(r"/api/conversations/{id}/rating", self.rating),
        ]

    async def search(self, request: web.Request) -> web.Response:
        """``q`` (text, customer or reference) and ``channel``, ``status``, ``team``, ``tier``."""
        status = None
        if raw := request.query.get("status"):
            try:
                status = ConversationStatus(raw)
            except ValueError:
                raise InvalidInput("unknown status") from None
        limit = int_param(request, "limit", 50)
        if limit is None or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        query = ConversationQuery(
            text=request.query.get("q") or None,
            channel=request.query.get("channel") or None,
            status=status,
            team=request.query.get("team") or None,
            tier=int_param(request, "tier"),
            before=int_param(request, "before"),
            limit=limit,
        )
        found = await self._inbox.inbox.search(query, current_agent(request).id)
        return web.json_response({"items": [row_json(r) for r in found]})

    async def customer(self, request: web.Request) -> web.Response:
        """The customer, their identities and every conversation with its messages."""
        customer_id = conversation_id(request)
        customer = await self._services.conversations.get_customer(customer_id)
        history = await self._inbox.inbox.customer_history(customer_id, 1000)
        body = customer_json(customer)
        body["conversations"] = [
            {**conversation_json(c), "messages": [message_json(m) for m in messages]}
            for c, messages in history
        ]
        return web.json_response(body)

    async def merge(self, request: web.Request) -> web.Response:
        """``{"other_id": N}``: customer N's identities and conversations become this one's."""
        data = await json_object(request)
        other = _int(data.get("other_id"), "other_id")
        merged = await self._inbox.inbox.merge_customers(
            conversation_id(request), other, self._services.clock.now()
        )
        return web.json_response(customer_json(merged))

    async def templates(self, _request: web.Request) -> web.Response:
        found = await self._inbox.templates.list_templates()
        return web.json_response({"items": [template_json(t) for t in found]})

    async def add_template(self, request: web.Request) -> web.Response:
        """``{"name", "body", "checklist": [...]?, "language"?, "team"?}``; supervisors only."""
        if not current_agent(request).is_supervisor:
            raise Forbidden("only supervisors and admins add canned responses")
        data = await json_object(request)
        name, body = data.get("name"), data.get("body")
        checklist = data.get("checklist") or []
        if not isinstance(name, str) or not isinstance(body, str):
            raise InvalidInput('"name" and "body" must be strings')
        if not isinstance(checklist, list) or not all(isinstance(i, str) for i in checklist):
            raise InvalidInput('"checklist" must be a list of strings')
        language, team = data.get("language"), data.get("team")
        for value, key in ((language, "language"), (team, "team")):
            if value is not None and (not isinstance(value, str) or len(value) > 64):
                raise InvalidInput(f'"{key}" must be a short string')
        check_template(name, body, checklist)
        created = await self._inbox.templates.add_template(
            name=name.strip(),
            body=body,
            checklist=[i.strip() for i in checklist],
            language=language,
            team=team,
            now=self._services.clock.now(),
        )
        return web.json_response(template_json(created), status=201)

    async def render_template(self, request: web.Request) -> web.Response:
        """``{"conversation_id", "items"?}``: the text the template gives for a conversation,
        with the chosen checklist items (all when ``items`` is absent)."""
        data = await json_object(request)
        template_id = conversation_id(request)
        found = {t.id: t for t in await self._inbox.templates.list_templates()}
        template = found.get(template_id)
        if template is None:
            raise InvalidInput(f"no template {template_id}")
        conversation = await self._services.conversations.get_conversation(
            _int(data.get("conversation_id"), "conversation_id")
        )
        customer = await self._services.conversations.get_customer(conversation.customer_id)
        agent = current_agent(request)
        text = fill(
            template.body,
            {
                "customer_name": customer.display_name,
                "agent_name": agent.name.split()[0] if agent.name.split() else agent.name,
                "reference": conversation.reference,
            },
        )
        items = data.get("items", list(template.checklist))
        if not isinstance(items, list) or not all(i in template.checklist for i in items):
            raise InvalidInput('"items" must be items of the template\'s checklist')
        return web.json_response({"text": with_checklist(text, items)})

    async def read(self, request: web.Request) -> web.Response:
        data = await json_object(request)
        message_id = _int(data.get("message_id"), "message_id")
        # 404 for a conversation that is not there, rather than a foreign-key failure below.
        conversation = await self._services.conversations.get_conversation(conversation_id(request))
        await self._inbox.inbox.mark_read(
            current_agent(request).id,
            conversation.id,
            message_id,
            self._services.clock.now(),
        )
        return web.json_response({"read": message_id})

    async def status_link(self, request: web.Request) -> web.Response:
        conversation = await self._services.conversations.get_conversation(conversation_id(request))
        url = await self._inbox.status_pages.status_url(conversation)
        return web.json_response({"url": url}, status=201)

    async def rating(self, request: web.Request) -> web.Response:
        found = await self._inbox.ratings.rating_of(conversation_id(request))
        if found is None:
            return web.json_response({"rating": None})
        return web.json_response(
            {
                "rating": found.rating,
                "comment": found.comment,
                "created_at": found.created_at.isoformat(),
            }
        )
