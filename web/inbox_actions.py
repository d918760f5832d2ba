"""The inbox's forms: take next, reply or note (with files), assign and transfer, escalate,
resolve, reopen, presence, merge customers, new canned responses, status page links.

Each is a plain HTML form post with the session's CSRF token in a hidden field, answered with
a redirect back to the page (303) and a one-time notice; everything the forms do goes
through the same services as the JSON API.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from bridge.errors import BridgeError, Forbidden, InvalidInput
from bridge.model import Agent, Attachment, Presence
from bridge.ports import AgentSession
from web.canned import check_template
from web.errors import parse_id
from web.files import MAX_ATTACHMENTS, _guess, _read_limited
from web.flash import set_flash
from web.render import local_path, see_other
from web.services import WebServices
from web.sessions import Sessions, check_csrf, require_session

log = logging.getLogger(__name__)

MAX_FIELD = 70_000  # a 64 KB message text, UTF-8, plus form encoding slack
Outcome = tuple[str, str]  # (where to go, what to tell the agent)
Work = Callable[[Agent, Any], Awaitable[Outcome]]


def _id(request: web.Request, name: str = "id") -> int:
    return parse_id(request.match_info[name], name)


def _back(conversation_id: int, extra: str = "") -> str:
    return f"/inbox?c={conversation_id}{extra}#conversation"


def _number(form: Any, name: str) -> int | None:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return None
    return parse_id(raw, name)


class InboxActions:
    def __init__(self, services: WebServices, sessions: Sessions) -> None:
        self._services = services
        self._inbox = services.inbox
        self._sessions = sessions

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/inbox/take-next", self.take_next),
            web.post("/inbox/presence", self.presence),
            web.post(r"/inbox/conversations/{id}/messages", self.post_message),
            web.post(r"/inbox/conversations/{id}/assign", self.assign),
            web.post(r"/inbox/conversations/{id}/escalate", self.escalate),
            web.post(r"/inbox/conversations/{id}/resolve", self.resolve),
            web.post(r"/inbox/conversations/{id}/reopen", self.reopen),
            web.post(r"/inbox/conversations/{id}/status-link", self.status_link),
            web.post(r"/inbox/customers/{id}/merge", self.merge),
            web.post("/inbox/templates", self.add_template),
        ]

    async def _act(self, request: web.Request, back: str, work: Work) -> web.Response:
        session = await require_session(self._sessions, request)
        form = await request.post()
        check_csrf(request, session, str(form.get("csrf", "")))
        return await self._finish(session, back, lambda: work(session.agent, form))

    async def _finish(
        self, session: AgentSession, back: str, run: Callable[[], Awaitable[Outcome]]
    ) -> web.Response:
        try:
            location, notice = await run()
            kind = "ok"
        except BridgeError as error:
            location, notice, kind = back, str(error), "error"
        response = see_other(location)
        if notice:
            set_flash(response, kind, notice, secure=self._inbox.settings.secure_cookies)
        return response

    # --- the queue and presence -----------------------------------------------------------

    async def take_next(self, request: web.Request) -> web.Response:
        async def work(agent: Agent, _form: Any) -> Outcome:
            taken = await self._services.queue.take_next(agent)
            if taken is None:
                return "/inbox", "Nobody is waiting in your queue."
            return _back(taken.id), f"You took {taken.reference}."

        return await self._act(request, "/inbox", work)

    async def presence(self, request: web.Request) -> web.Response:
        async def work(agent: Agent, form: Any) -> Outcome:
            try:
                presence = Presence(str(form.get("presence", "")))
            except ValueError:
                raise InvalidInput("choose online, away, dnd or offline") from None
            await self._services.queue.set_presence(agent, presence)
            self._sessions.forget(request)
            return local_path(str(form.get("back", "")), "/inbox"), ""

        return await self._act(request, "/inbox", work)

    # --- the composer ---------------------------------------------------------------------

    async def post_message(self, request: web.Request) -> web.Response:
        """A reply or a note, streamed as multipart so that files are not held to the JSON
        routes' body limit. The CSRF field comes first in the form and is checked before any
        file is stored."""
        session = await require_session(self._sessions, request)
        conversation_id = _id(request)
        back = _back(conversation_id)

        async def run() -> Outcome:
            fields, files = await self._read_composer(request, session)
            mode = fields.get("mode")
            if mode not in ("reply", "note"):
                raise InvalidInput("choose Reply or Internal note")
            internal = mode == "note"
            key = fields.get("key") or None
            await self._services.service.reply(
                conversation_id,
                session.agent,
                fields.get("text", ""),
                internal=internal,
                client_key=key[:200] if key else None,
                attachments=files,
            )
            sticky = "&mode=note" if internal else ""
            return _back(conversation_id, sticky), "Internal note added." if internal else ""

        return await self._finish(session, back, run)

    async def _read_composer(
        self, request: web.Request, session: AgentSession
    ) -> tuple[dict[str, str], tuple[Attachment, ...]]:
        if request.content_type != "multipart/form-data":
            form = await request.post()
            check_csrf(request, session, str(form.get("csrf", "")))
            return {k: str(v) for k, v in form.items() if isinstance(v, str)}, ()
        reader = await request.multipart()
        fields: dict[str, str] = {}
        files: list[Attachment] = []
        checked = False
        store = self._services.files
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.filename is None:
                value = await part.read(decode=True)
                if len(value) > MAX_FIELD:
                    raise InvalidInput(f"the field {part.name!r} is too large")
                fields[part.name or ""] = value.decode("utf-8", "replace")
                if part.name == "csrf":
                    check_csrf(request, session, fields["csrf"])
                    checked = True
                continue
            if not checked:
                check_csrf(request, session, "")
            data = await _read_limited(part.read_chunk, store.max_bytes, part.filename)
            if not data:
                continue  # the empty file input of a form sent without a file
            if len(files) >= MAX_ATTACHMENTS:
                raise InvalidInput(f"at most {MAX_ATTACHMENTS} files per message")
            content_type = part.headers.get("Content-Type", "") or _guess(part.filename)
            if content_type == "application/octet-stream":
                content_type = _guess(part.filename)
            files.append(
                await store.save(data, name=part.filename[:200], content_type=content_type)
            )
        if not checked:
            check_csrf(request, session, "")
        return fields, tuple(files)

    # --- conversation actions -------------------------------------------------------------

    async def assign(self, request: web.Request) -> web.Response:
        conversation_id = _id(request)

        async def work(agent: Agent, form: Any) -> Outcome:
            target = _number(form, "agent_id")
            done = await self._services.queue.assign(conversation_id, agent, target)
            who = "you" if done.assignee_id == agent.id else f"agent {done.assignee_id}"
            return _back(conversation_id), f"{done.reference} is assigned to {who}."

        return await self._act(request, _back(conversation_id), work)

    async def escalate(self, request: web.Request) -> web.Response:
        conversation_id = _id(request)

        async def work(agent: Agent, form: Any) -> Outcome:
            team = str(form.get("team", "")).strip() or None
            moved = await self._services.queue.escalate(
                conversation_id,
                agent,
                team=team,
                tier=_number(form, "tier"),
                note=str(form.get("note", "")),
            )
            return _back(conversation_id), (
                f"{moved.reference} moved to {moved.team}, tier {moved.tier}, with your note."
            )

        return await self._act(request, _back(conversation_id), work)

    async def resolve(self, request: web.Request) -> web.Response:
        conversation_id = _id(request)

        async def work(agent: Agent, _form: Any) -> Outcome:
            done = await self._services.service.resolve(conversation_id, agent)
            return _back(conversation_id), f"{done.reference} is resolved."

        return await self._act(request, _back(conversation_id), work)

    async def reopen(self, request: web.Request) -> web.Response:
        conversation_id = _id(request)

        async def work(agent: Agent, _form: Any) -> Outcome:
            done = await self._services.queue.reopen(conversation_id, agent)
            return _back(conversation_id), f"{done.reference} is open again."

        return await self._act(request, _back(conversation_id), work)

    async def status_link(self, request: web.Request) -> web.Response:
        conversation_id = _id(request)

        async def work(_agent: Agent, _form: Any) -> Outcome:
            conversation = await self._services.conversations.get_conversation(conversation_id)
            url = await self._inbox.status_pages.status_url(conversation)
            return _back(conversation_id), f"The customer's status page: {url}"

        return await self._act(request, _back(conversation_id), work)

    # --- customers and templates ----------------------------------------------------------

    async def merge(self, request: web.Request) -> web.Response:
        keep_id = _id(request)

        async def work(agent: Agent, form: Any) -> Outcome:
            other = _number(form, "other_id")
            if other is None:
                raise InvalidInput("give the id of the customer to merge into this one")
            merged = await self._inbox.inbox.merge_customers(
                keep_id, other, self._services.clock.now()
            )
            log.info("agent %d merged customer %d into %d", agent.id, other, keep_id)
            back = _number(form, "back")
            location = _back(back) if back else "/inbox"
            return location, f"Customer {other} is now part of {merged.display_name} ({keep_id})."

        return await self._act(request, "/inbox", work)

    async def add_template(self, request: web.Request) -> web.Response:
        async def work(agent: Agent, form: Any) -> Outcome:
            if not agent.is_supervisor:
                raise Forbidden("only supervisors and admins add canned responses")
            name = str(form.get("name", "")).strip()
            body = str(form.get("body", ""))
            items = [i.strip() for i in str(form.get("checklist", "")).splitlines() if i.strip()]
            check_template(name, body, items)
            await self._inbox.templates.add_template(
                name=name,
                body=body,
                checklist=items,
                language=None,
                team=None,
                now=self._services.clock.now(),
            )
            return "/inbox", f"Canned response {name!r} saved."

        return await self._act(request, "/inbox", work)
