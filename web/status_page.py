"""``/status/<token>``: the customer's own view of their conversation.

Status, place in line, the agent's first name once assigned, the public history and a reply
box. The history comes from the store's public-only query and then through
:func:`bridge.gate.customer_view`, the one gate: a note, a withdrawn reply or another
conversation's message cannot appear here. A reply is ingested as the customer's message on
the conversation's own channel thread, with the form's one-time key as its external id, so
posting the form twice stores it once. Forms carry a double-submit CSRF token.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import defaultdict, deque
from typing import Any

from aiohttp import web

from bridge.errors import BridgeError, InvalidInput, NotFound
from bridge.gate import PublicMessage, customer_view
from bridge.inbound import InboundMessage
from bridge.model import Author, Conversation, ConversationStatus, Customer
from web.files import _ascii
from web.flash import clear_flash, read_flash, set_flash
from web.render import Renderer, app_headers, see_other
from web.services import WebServices
from web.sessions import check_form_token, form_secret, set_form_cookie

log = logging.getLogger(__name__)

CSRF = "bridge_status_csrf"
HISTORY_LIMIT = 500
MAX_COMMENT = 1000
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Replies one status page takes per minute: a person writes a few, a script many.
REPLIES_PER_MINUTE = 10
STATES = {
    ConversationStatus.QUEUED: "Waiting for an agent",
    ConversationStatus.ASSIGNED: "An agent is on it",
    ConversationStatus.PENDING_CUSTOMER: "Waiting for your reply",
    ConversationStatus.RESOLVED: "Resolved",
}


def first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else name


def _message(m: PublicMessage, token: str) -> dict[str, Any]:
    if m.author is Author.CUSTOMER:
        who = "You"
    elif m.author is Author.AGENT:
        who = first_name(m.author_name)
    else:
        who = m.author_name or "Support"
    return {
        "id": m.id,
        "mine": m.author is Author.CUSTOMER,
        "author": m.author.value,
        "who": who,
        "text": m.text,
        "time": m.created_at.strftime("%d %b %H:%M UTC"),
        "attachments": [
            {"name": a.name, "url": f"/status/{token}/files/{a.storage_key}"} for a in m.attachments
        ],
    }


def sender_of(customer: Customer, conversation: Conversation) -> str:
    """The customer's id on the conversation's channel, so the reply is theirs."""
    for identity in customer.identities:
        if identity.channel == conversation.origin.channel:
            return identity.external_id
    return conversation.origin.thread_key


class StatusPage:
    def __init__(self, services: WebServices) -> None:
        self._services = services
        self._links = services.inbox.status_pages
        self._render = Renderer()
        self._recent: dict[int, deque[float]] = defaultdict(deque)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(r"/status/{token}", self.page),
            web.post(r"/status/{token}", self.reply),
            web.post(r"/status/{token}/rate", self.rate),
            web.get(r"/status/{token}/files/{key}", self.file),
        ]

    async def _conversation(self, request: web.Request) -> tuple[str, Conversation]:
        token = request.match_info["token"]
        conversation_id = await self._links.conversation_of(token)
        if conversation_id is None:
            raise NotFound("this status page does not exist")
        return token, await self._services.conversations.get_conversation(conversation_id)

    async def _history(self, conversation: Conversation) -> tuple[PublicMessage, ...]:
        found = await self._services.inbox.links.public_history(
            conversation.id, self._services.clock.now(), HISTORY_LIMIT
        )
        return customer_view(found)

    def _missing(self) -> web.Response:
        response = self._render.page(
            "status_missing.html", status=404, title="Status page not found"
        )
        response.headers["X-Robots-Tag"] = "noindex"
        return response

    async def page(self, request: web.Request) -> web.Response:
        try:
            token, conversation = await self._conversation(request)
        except NotFound:
            return self._missing()
        status = self._services.queue.status(conversation)
        history = await self._history(conversation)
        rating = await self._services.inbox.ratings.rating_of(conversation.id)
        csrf = form_secret(request, CSRF)
        eta = status.eta_seconds
        agent_name = status.agent_first_name
        if agent_name is None and conversation.assignee_id is not None and conversation.is_open:
            # The router knows agents who were around when it started or changed since.
            agent = await self._services.agents.get_agent(conversation.assignee_id)
            agent_name = first_name(agent.name)
        response = self._render.page(
            "status.html",
            title=f"Your conversation {conversation.reference}",
            token=token,
            csrf=csrf,
            key=secrets.token_urlsafe(16),
            reference=conversation.reference,
            state=conversation.status.value,
            state_label=STATES[conversation.status],
            position=status.position,
            eta_minutes=None if eta is None else max(1, -(-int(eta) // 60)),
            agent_name=agent_name,
            messages=[_message(m, token) for m in history],
            resolved=conversation.status is ConversationStatus.RESOLVED,
            rating=rating.rating if rating else None,
            flash=read_flash(request),
        )
        set_form_cookie(response, CSRF, csrf, path="/status/", secure=self._secure)
        response.headers["X-Robots-Tag"] = "noindex"
        clear_flash(request, response)
        return response

    @property
    def _secure(self) -> bool:
        return self._services.inbox.settings.secure_cookies

    def _allowed(self, conversation_id: int) -> bool:
        now = time.monotonic()
        recent = self._recent[conversation_id]
        while recent and recent[0] < now - 60:
            recent.popleft()
        if len(recent) >= REPLIES_PER_MINUTE:
            return False
        recent.append(now)
        if len(self._recent) > 10_000:
            self._recent.clear()
        return True

    async def reply(self, request: web.Request) -> web.Response:
        try:
            token, conversation = await self._conversation(request)
        except NotFound:
            return self._missing()
        form = await request.post()
        check_form_token(request, CSRF, form.get("csrf"))
        here = f"/status/{token}"
        key = str(form.get("key", ""))
        text = str(form.get("text", ""))
        try:
            if not _KEY.match(key):
                raise InvalidInput("the form is incomplete: reload the page")
            if not self._allowed(conversation.id):
                raise InvalidInput("too many messages; please wait a minute")
            customer = await self._services.conversations.get_customer(conversation.customer_id)
            result = await self._services.inbox.ingest.ingest(
                InboundMessage(
                    thread=conversation.origin,
                    external_id=f"status-page:{key}",
                    sender_id=sender_of(customer, conversation),
                    sender_name=customer.display_name,
                    text=text,
                    received_at=self._services.clock.now(),
                    language=customer.language,
                )
            )
        except BridgeError as error:
            response = see_other(here + "#reply")
            set_flash(response, "error", str(error), secure=self._secure)
            return response
        if result.conversation.id != conversation.id:
            # Written long after resolve: a new conversation started; its own page it is.
            here = await self._links.status_path(result.conversation.id)
        log.info("status page reply in conversation %d", result.conversation.id)
        return see_other(here + "#latest")

    async def rate(self, request: web.Request) -> web.Response:
        try:
            token, conversation = await self._conversation(request)
        except NotFound:
            return self._missing()
        form = await request.post()
        check_form_token(request, CSRF, form.get("csrf"))
        response = see_other(f"/status/{token}#rate")
        raw = str(form.get("rating", ""))
        comment = str(form.get("comment", "")).strip()[:MAX_COMMENT] or None
        if conversation.status is not ConversationStatus.RESOLVED:
            set_flash(
                response,
                "error",
                "You can rate once the conversation is resolved.",
                secure=self._secure,
            )
        elif raw not in {"1", "2", "3", "4", "5"}:
            set_flash(response, "error", "Choose a rating from 1 to 5.", secure=self._secure)
        else:
            await self._services.inbox.ratings.rate(
                conversation.id, int(raw), comment, self._services.clock.now()
            )
            log.info("conversation %d rated %s on its status page", conversation.id, raw)
            set_flash(response, "ok", "Thank you for your rating!", secure=self._secure)
        return response

    async def file(self, request: web.Request) -> web.StreamResponse:
        """An attachment of a public message of this conversation, and nothing else."""
        try:
            _token, conversation = await self._conversation(request)
        except NotFound:
            return self._missing()
        key = request.match_info["key"]
        for message in await self._history(conversation):
            for attachment in message.attachments:
                if attachment.storage_key == key:
                    data = await self._services.files.read(key)
                    response = web.Response(
                        body=data,
                        content_type="application/octet-stream",
                        headers={
                            "Content-Disposition": (
                                f'attachment; filename="{_ascii(attachment.name)}"'
                            ),
                        },
                    )
                    app_headers(response)
                    return response
        return self._missing()
