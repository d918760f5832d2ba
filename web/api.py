"""The agent API (JSON over HTTP), authenticated by an agent's bearer token or by the
inbox's session cookie (then state-changing requests also need the session's CSRF token in
``X-CSRF-Token``: a cookie is sent by the browser whoever asks, a header only by our pages).

Routes and shapes are the outside contract in DESIGN.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from bridge.errors import Conflict, InvalidInput, NotFound, Unauthorized
from bridge.model import Agent, ConversationStatus, Presence
from bridge.tokens import hash_token
from web.errors import json_object, parse_id, parse_int
from web.files import attachments_from
from web.serialize import agent_json, conversation_json, customer_json, message_json
from web.services import WebServices
from web.sessions import SAFE_METHODS, Sessions, check_csrf

log = logging.getLogger(__name__)

AGENT = web.RequestKey("agent", Agent)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_PAGE = 200
#: The API's description is no secret: tools fetch it before they have a token.
PUBLIC_DOCUMENT = "/api/openapi.json"


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TokenCache:
    """Agents recently authenticated, by token hash, for a few seconds.

    A lookup costs a database read (about 1.5 ms here) on every API call; an agent's client
    makes many calls a minute. A revoked token stops working within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 5.0, size: int = 1024) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, Agent]] = {}

    def get(self, token_hash: str) -> Agent | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token_hash: str, agent: Agent) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()  # crude, and enough: a refill costs one read per agent
        self._entries[token_hash] = (time.monotonic() + self._ttl, agent)


def auth_middleware(services: WebServices, known: TokenCache, sessions: Sessions) -> Any:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/") or request.path == PUBLIC_DOCUMENT:
            return await handler(request)
        token = bearer_token(request)
        if token is None:
            session = await sessions.lookup(request)
            if session is None:
                raise Unauthorized(
                    "send Authorization: Bearer <token> (from `bridge agent add`) or sign in"
                )
            if request.method not in SAFE_METHODS:
                check_csrf(request, session)
            request[AGENT] = session.agent
            return await handler(request)
        token_hash = hash_token(token)
        agent = known.get(token_hash)
        if agent is None:
            agent = await services.agents.agent_by_token_hash(token_hash)
            if agent is None:
                raise Unauthorized("unknown or revoked token")
            known.put(token_hash, agent)
        request[AGENT] = agent
        return await handler(request)

    return authenticate


def current_agent(request: web.Request) -> Agent:
    return request[AGENT]


def int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, name)


def conversation_id(request: web.Request) -> int:
    return parse_id(request.match_info["id"], "the id in the path")


class AgentApi:
    def __init__(self, services: WebServices, tokens: TokenCache, sessions: Sessions) -> None:
        self._services = services
        self._tokens = tokens
        self._sessions = sessions

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/agents/me", self.me),
            web.get("/api/conversations", self.list_conversations),
            web.get(r"/api/conversations/{id}", self.get_conversation),
            web.post(r"/api/conversations/{id}/messages", self.post_message),
            web.patch(r"/api/conversations/{id}/messages/{message}", self.edit_message),
            web.post(r"/api/conversations/{id}/messages/{message}/retract", self.retract),
            web.post(r"/api/conversations/{id}/resolve", self.resolve),
            web.post(r"/api/conversations/{id}/assign", self.assign),
            web.post(r"/api/conversations/{id}/escalate", self.escalate),
            web.post(r"/api/conversations/{id}/reopen", self.reopen),
            web.get("/api/queue", self.queue),
            web.post("/api/queue/next", self.take_next),
            web.patch("/api/agents/me", self.update_me),
            web.get("/api/stats", self.stats),
        ]

    async def me(self, request: web.Request) -> web.Response:
        return web.json_response(agent_json(current_agent(request)))

    async def list_conversations(self, request: web.Request) -> web.Response:
        status = None
        if raw := request.query.get("status"):
            try:
                status = ConversationStatus(raw)
            except ValueError:
                choices = ", ".join(s.value for s in ConversationStatus)
                raise InvalidInput(f"status must be one of {choices}") from None
        assignee = request.query.get("assignee")
        assignee_id = (
            current_agent(request).id if assignee == "me" else int_param(request, "assignee")
        )
        limit = int_param(request, "limit", 50)
        if limit is None or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        page = await self._services.conversations.list_conversations(
            status=status, assignee_id=assignee_id, before=int_param(request, "before"), limit=limit
        )
        return web.json_response(
            {"items": [conversation_json(c) for c in page.items], "next_before": page.next_before}
        )

    async def get_conversation(self, request: web.Request) -> web.Response:
        store = self._services.conversations
        conversation = await store.get_conversation(conversation_id(request))
        customer = await store.get_customer(conversation.customer_id)
        history = await store.messages(conversation.id)
        deliveries = {d.message_id: d for d in await store.deliveries_for(conversation.id)}
        body = conversation_json(conversation)
        body["customer"] = customer_json(customer)
        body["messages"] = [message_json(m, deliveries.get(m.id)) for m in history]
        return web.json_response(body)

    async def post_message(self, request: web.Request) -> web.Response:
        data = await json_object(request)
        text = data.get("text")
        internal = data.get("internal")
        if not isinstance(text, str):
            raise InvalidInput('"text" must be a string')
        if not isinstance(internal, bool):
            # Required on purpose: whether a message reaches the customer is never a default.
            raise InvalidInput(
                '"internal" must be true (a note) or false (a reply to the customer)'
            )
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= 200:
            raise InvalidInput("Idempotency-Key must be 1 to 200 characters")
        reply_to = data.get("reply_to_id")
        if reply_to is not None:
            reply_to = parse_id(reply_to, '"reply_to_id"')
        attachments = await attachments_from(data.get("attachments"), self._services.files)
        posted = await self._services.service.reply(
            conversation_id(request),
            current_agent(request),
            text,
            internal=internal,
            client_key=key,
            attachments=attachments,
            reply_to_id=reply_to,
        )
        body = {
            "message": message_json(posted.message),
            "conversation": conversation_json(posted.conversation),
            "deliveries": [
                {"id": d.id, "state": d.state.value, "channel": d.destination.channel}
                for d in posted.deliveries
            ],
        }
        return web.json_response(body, status=200 if posted.duplicate else 201)

    async def edit_message(self, request: web.Request) -> web.Response:
        data = await json_object(request)
        text = data.get("text")
        if not isinstance(text, str):
            raise InvalidInput('"text" must be a string')
        message = await self._owned_message(request)
        edited = await self._services.service.edit(message, current_agent(request), text)
        return web.json_response(message_json(edited))

    async def retract(self, request: web.Request) -> web.Response:
        message = await self._owned_message(request)
        withdrawn = await self._services.service.retract(message, current_agent(request))
        if not withdrawn:
            raise Conflict("too late: the message was already sent")
        return web.json_response({"retracted": True})

    async def _owned_message(self, request: web.Request) -> int:
        """The message id of the path, checked to belong to the path's conversation."""
        raw = request.match_info["message"]
        message = await self._services.conversations.get_message(parse_id(raw, "message id"))
        if message.conversation_id != conversation_id(request):
            raise NotFound(f"no message {raw} in this conversation")
        return message.id

    async def resolve(self, request: web.Request) -> web.Response:
        conversation = await self._services.service.resolve(
            conversation_id(request), current_agent(request)
        )
        return web.json_response(conversation_json(conversation))

    # --- the queue ------------------------------------------------------------------------

    async def queue(self, request: web.Request) -> web.Response:
        tier = int_param(request, "tier")
        limit = int_param(request, "limit", 100)
        if limit is None or not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        items, total = self._services.queue.queue(
            team=request.query.get("team") or None, tier=tier, limit=limit
        )
        names = await self._services.conversations.customer_names(
            [i.conversation.customer_id for i in items]
        )
        return web.json_response(
            {
                "items": [
                    {
                        "conversation_id": i.conversation.id,
                        "reference": i.conversation.reference,
                        "position": i.position,
                        "waiting_seconds": round(i.waiting_seconds, 1),
                        "eta_seconds": None if i.eta_seconds is None else round(i.eta_seconds),
                        "channel": i.conversation.origin.channel,
                        "customer": {
                            "id": i.conversation.customer_id,
                            "name": names.get(i.conversation.customer_id),
                        },
                        "team": i.conversation.team,
                        "tier": i.conversation.tier,
                        "priority": i.conversation.priority.name.lower(),
                    }
                    for i in items
                ],
                "length": total,
            }
        )

    async def take_next(self, request: web.Request) -> web.Response:
        taken = await self._services.queue.take_next(current_agent(request))
        if taken is None:
            return web.Response(status=204)
        return web.json_response(conversation_json(taken))

    async def assign(self, request: web.Request) -> web.Response:
        data = await json_object(request) if request.can_read_body else {}
        agent_id = data.get("agent_id")
        if agent_id is not None:
            agent_id = parse_id(agent_id, '"agent_id"')
        conversation = await self._services.queue.assign(
            conversation_id(request), current_agent(request), agent_id
        )
        return web.json_response(conversation_json(conversation))

    async def escalate(self, request: web.Request) -> web.Response:
        data = await json_object(request)
        note = data.get("note")
        team = data.get("team")
        tier = data.get("tier")
        if not isinstance(note, str):
            raise InvalidInput('"note" is required: the handoff note for the next agent')
        if team is not None and (not isinstance(team, str) or not team.strip()):
            raise InvalidInput('"team" must be a team name')
        if tier is not None and (not isinstance(tier, int) or isinstance(tier, bool)):
            raise InvalidInput('"tier" must be a number')
        if team is None and tier is None:
            raise InvalidInput('give "tier" or "team" (or both) to escalate to')
        conversation = await self._services.queue.escalate(
            conversation_id(request), current_agent(request), team=team, tier=tier, note=note
        )
        return web.json_response(conversation_json(conversation))

    async def reopen(self, request: web.Request) -> web.Response:
        conversation = await self._services.queue.reopen(
            conversation_id(request), current_agent(request)
        )
        return web.json_response(conversation_json(conversation))

    async def update_me(self, request: web.Request) -> web.Response:
        data = await json_object(request)
        raw = data.get("presence")
        try:
            presence = Presence(str(raw))
        except ValueError:
            choices = ", ".join(p.value for p in Presence)
            raise InvalidInput(f'"presence" must be one of {choices}') from None
        agent = await self._services.queue.set_presence(current_agent(request), presence)
        token = bearer_token(request)
        if token is not None:
            self._tokens.put(hash_token(token), agent)  # the caller sees its own change at once
        else:
            self._sessions.forget(request)
        return web.json_response(agent_json(agent))

    async def stats(self, request: web.Request) -> web.Response:
        hours = int_param(request, "hours", 24)
        if hours is None or not 1 <= hours <= 24 * 90:
            raise InvalidInput("hours must be between 1 and 2160")
        since = self._services.clock.now() - timedelta(hours=hours)
        return web.json_response(await self._services.queue.stats(since))
