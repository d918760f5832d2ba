"""The web chat channel: visitor sessions over HTTP, one websocket per browser tab.

A visitor is a thread (``webchat/<account>/<visitor id>``) with a session token; only the
token's hash is stored. Each open tab is a websocket in the local hub
(:mod:`channels.webchat.hub`), which also explains why a socket is registered before history
is read.

Sends never fail for lack of a socket: the message is stored, and the visitor gets it on
their next resume.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web

from bridge.errors import InvalidInput, TextTooLong
from bridge.events import CustomerTyping, DeliverySent
from bridge.gate import customer_view, public_view
from bridge.ingest import IngestStopped
from bridge.model import Conversation, ThreadRef
from bridge.outbound import Capabilities, OutboundMessage, SentReceipt
from bridge.ports import (
    Clock,
    ComponentState,
    CustomerHistory,
    EventBus,
    Health,
    Ingest,
    QueueService,
    RatingStore,
    Subscription,
    VisitorStore,
)
from bridge.tasks import TaskGroup
from bridge.tokens import hash_token, new_token
from channels.webchat.convert import (
    CsatFrame,
    FrameError,
    MalformedJson,
    MessageFrame,
    ResumeFrame,
    TypingFrame,
    csat_frame,
    encode_frame,
    error_frame,
    inbound_message,
    message_frame,
    parse_client_frame,
    parse_session_request,
    resumed_frame,
    session_response,
    status_frame,
)
from channels.webchat.hub import STATUS_KINDS, WRITE_TIMEOUT, Hub, Socket
from channels.webchat.ratelimit import RateLimiter
from channels.webchat.settings import WebchatSettings

log = logging.getLogger(__name__)

CHANNEL = "webchat"
#: Frames above this are closed by aiohttp with 1009; a 64 KB text fits with JSON escaping.
MAX_FRAME_BYTES = 128 * 1024
HEARTBEAT_SECONDS = 30.0
#: A client sending this many unusable frames in a row is broken or hostile: close with 1008.
MAX_BAD_FRAMES = 20
TYPING_INTERVAL = timedelta(seconds=2)
MAX_SESSION_BODY = 16 * 1024
#: How many sent message ids this process remembers having pushed itself.
PUSHED_MEMORY = 4096


class WebchatAdapter:
    def __init__(
        self,
        settings: WebchatSettings,
        *,
        ingest: Ingest,
        history: CustomerHistory,
        visitors: VisitorStore,
        bus: EventBus,
        clock: Clock,
        queue: QueueService | None = None,
        ratings: RatingStore | None = None,
        status_refresh: float = 5.0,
    ) -> None:
        self._settings = settings
        self._queue = queue
        #: Where the visitor's 1-5 rating goes; None: the widget offers none.
        self._ratings = ratings
        self._status_refresh = status_refresh
        self._ingest = ingest
        self._history = history
        self._visitors = visitors
        self._bus = bus
        self._clock = clock
        self._hub = Hub(settings.max_connections)
        self._limits = RateLimiter(settings.rate_limit_per_minute, clock)
        self._typing_at: dict[str, datetime] = {}
        self._tasks = TaskGroup("webchat")
        self._subscription: Subscription | None = None
        self._sent: Subscription | None = None
        #: Messages this process pushed itself (the rest were sent by another process).
        self._pushed: OrderedDict[int, None] = OrderedDict()
        self._running = False

    # --- the ChannelAdapter port ----------------------------------------------------------

    @property
    def channel(self) -> str:
        return CHANNEL

    @property
    def account(self) -> str:
        return self._settings.account

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(typing=True, live_chat=True, max_text_length=None)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/webchat/sessions", self._create_session),
            web.options("/webchat/sessions", self._preflight),
            web.get("/webchat/ws", self._websocket, allow_head=False),
        ]

    async def start(self) -> None:
        if self._running:
            return
        self._subscription = self._bus.subscribe(STATUS_KINDS)
        statuses = self._hub.follow_status(
            self._subscription, CHANNEL, self.account, self._describe, _log_failure
        )
        self._tasks.spawn(statuses, "status")
        if self._queue is not None:
            self._tasks.spawn(self._refresh(), "status-refresh")
        self._sent = self._bus.subscribe(frozenset({DeliverySent.kind}))
        self._tasks.spawn(self._relay(self._sent), "relay")
        self._running = True

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False  # refuse new sockets from here on
        for subscription in (self._subscription, self._sent):
            if subscription is not None:
                await subscription.close()
        self._subscription = self._sent = None
        await self._tasks.cancel_all()
        closed = await self._hub.close_all(code=1001, message=b"server shutting down")
        log.info("web chat stopped; closed %d sockets", closed)

    def state(self) -> ComponentState:
        if not self._running:
            return ComponentState(Health.STOPPED)
        return ComponentState(Health.OK, f"{self._hub.open_sockets} connections")

    def sessions(self) -> int:
        """Open websockets on this process (for /metrics)."""
        return self._hub.open_sockets

    async def send(self, out: OutboundMessage) -> SentReceipt:
        """Push to every open tab of the visitor; the receipt does not depend on one being open
        (the visitor gets the message on resume), and neither do socket write errors."""
        frame = encode_frame(message_frame(out.message))
        if out.destination.account == self.account:
            self._remember(out.message.id)
            await self._hub.push(out.destination.thread_key, frame)
        return SentReceipt(external_id=f"webchat:{out.message.id}")

    def _remember(self, message_id: int) -> None:
        self._pushed[message_id] = None
        while len(self._pushed) > PUSHED_MEMORY:
            self._pushed.popitem(last=False)

    async def _relay(self, sent: Subscription) -> None:
        """Push what another process sent to visitors connected here (with several
        processes a visitor's socket and the dispatcher that sends are often apart)."""
        async for event in sent:
            if not isinstance(event, DeliverySent) or event.destination is None:
                continue
            thread = event.destination
            if thread.channel != CHANNEL or thread.account != self.account:
                continue
            if event.message_id in self._pushed or thread.thread_key not in self._hub.online():
                continue
            try:
                found = await self._history.thread_messages(
                    thread, event.message_id - 1, 1, now=self._clock.now()
                )
                for message in customer_view(found):
                    if message.id == event.message_id:
                        self._remember(message.id)
                        await self._hub.push(
                            thread.thread_key, encode_frame(message_frame(message))
                        )
            except Exception:
                log.exception("relaying message %d to the web chat failed", event.message_id)

    # --- HTTP: sessions -------------------------------------------------------------------

    def _cors(self, request: web.Request) -> dict[str, str] | None:
        """CORS headers for an allowed caller; None when its Origin is not allowed."""
        allowed = self._settings.allowed_origins
        origin = request.headers.get("Origin")
        if allowed == ("*",):
            return {"Access-Control-Allow-Origin": "*"}
        if origin is None:
            return {}  # not a browser's cross-origin request: nothing to allow
        if origin not in allowed:
            return None
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def _preflight(self, request: web.Request) -> web.Response:
        headers = self._cors(request)
        if headers is None:
            return _error(403, "origin_not_allowed", "this origin may not use the web chat")
        headers |= {
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return web.Response(status=204, headers=headers)

    async def _create_session(self, request: web.Request) -> web.Response:
        headers = self._cors(request)
        if headers is None:
            return _error(403, "origin_not_allowed", "this origin may not use the web chat")
        if (request.content_length or 0) > MAX_SESSION_BODY:
            return _error(413, "too_large", "the body is too large", headers)
        body = await request.read()
        if len(body) > MAX_SESSION_BODY:
            return _error(413, "too_large", "the body is too large", headers)
        try:
            wanted = parse_session_request(body, request.headers.get("Accept-Language"))
        except MalformedJson as error:
            return _error(400, "malformed_json", str(error), headers)
        except InvalidInput as error:
            return _error(400, "invalid_input", str(error), headers)

        visitor_id = "v_" + secrets.token_urlsafe(16)
        token = new_token("wcs")
        now = self._clock.now()
        try:
            visitor = await self._visitors.create_visitor(
                self._thread(visitor_id),
                display_name=wanted.name,
                email=wanted.email,
                language=wanted.language,
                timezone=wanted.timezone,
                token_hash=hash_token(token),
                expires_at=now + timedelta(days=self._settings.session_ttl_days),
                now=now,
            )
        except Exception as error:
            _log_failure(error, f"creating visitor {visitor_id} failed")
            return _error(503, "temporarily_unavailable", "please try again shortly", headers)
        log.info("web chat visitor %s created", visitor_id)
        return web.json_response(
            session_response(token, visitor, self._settings.title), status=201, headers=headers
        )

    # --- HTTP: the websocket --------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        # The session route's CORS headers also go on the refusals here, so the widget can
        # read a 401 with a plain GET (its session check) from the embedding site.
        headers = self._cors(request)
        if headers is None:
            return _error(403, "origin_not_allowed", "this origin may not use the web chat")
        if not self._running:
            return _error(503, "unavailable", "the web chat is not running", headers)
        # Counted from here, before any await, so concurrent upgrades cannot overshoot.
        if not self._hub.reserve():
            log.warning("web chat refused a socket: %d connections", self._hub.connections)
            return _error(503, "too_many_connections", "please try again later", headers)
        try:
            return await self._accept(request, headers)
        finally:
            self._hub.release()

    async def _accept(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        token = request.query.get("token", "")
        token_hash = hash_token(token)
        now = self._clock.now()
        try:
            visitor = await self._visitors.visitor_by_token_hash(token_hash, now) if token else None
        except Exception as error:
            _log_failure(error, "looking up a web chat session failed")
            return _error(503, "temporarily_unavailable", "please try again shortly", headers)
        if visitor is None or visitor.thread != self._thread(visitor.thread.thread_key):
            return _error(401, "unauthorized", "unknown or expired session token", headers)

        ws = web.WebSocketResponse(
            heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_FRAME_BYTES, timeout=WRITE_TIMEOUT
        )
        if not ws.can_prepare(request).ok:
            return _error(426, "websocket_expected", "connect with a websocket", headers)
        try:
            await self._visitors.touch_visitor(
                token_hash, now + timedelta(days=self._settings.session_ttl_days)
            )
        except Exception as error:  # sliding the expiry is not worth refusing the visitor
            _log_failure(
                error, f"sliding the session of visitor {visitor.thread.thread_key} failed"
            )
        await ws.prepare(request)

        client = Socket(ws, visitor)
        # Registered before the greeting and any resume read history: see the hub's docstring.
        self._hub.register(client)
        if not self._running:  # stop() ran while this upgrade was under way
            self._disconnected(client)
            await ws.close(code=1001, message=b"server shutting down")
            return ws
        log.info("visitor %s connected (%d connections)", client.visitor_id, self._hub.connections)
        try:
            await self._greet(client)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(client, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    client.bad_frames += 1
                    await client.write(
                        error_frame("binary_not_supported", "frames must be JSON text")
                    )
                else:  # ERROR: aiohttp already closed the socket (e.g. 1009, too big)
                    break
                if client.bad_frames >= MAX_BAD_FRAMES:
                    log.info("visitor %s: too many invalid frames; closing", client.visitor_id)
                    await ws.close(code=1008, message=b"too many invalid frames")
                    break
        finally:
            self._disconnected(client)
            log.info("visitor %s disconnected", client.visitor_id)
        return ws

    async def _greet(self, client: Socket) -> None:
        """The status of the visitor's current conversation, first thing after connecting."""
        try:
            conversation = await self._history.current_conversation(client.visitor.thread)
        except Exception as error:
            _log_failure(error, f"reading the status of visitor {client.visitor_id} failed")
            return
        frame = self._describe(conversation) if conversation else status_frame(None)
        self._hub.greeted(client, frame, conversation)
        await client.write(frame)

    def _describe(self, conversation: Conversation) -> dict[str, Any]:
        """A status frame, with the router's place in line and expected wait when known,
        and ``csat`` on a resolved conversation the visitor can rate."""
        if self._queue is None:
            frame = status_frame(conversation)
        else:
            status = self._queue.status(conversation)
            frame = status_frame(
                conversation,
                position=status.position,
                assignee=status.agent_first_name,
                eta_seconds=status.eta_seconds if status.position is not None else None,
            )
        if self._ratings is not None and not conversation.is_open:
            frame["csat"] = True
        return frame

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._status_refresh)
            try:
                await self._hub.refresh_statuses(self._describe)
            except Exception as error:
                _log_failure(error, "refreshing visitors' places in line failed")

    # --- frames from the widget -----------------------------------------------------------

    async def _on_text(self, client: Socket, raw: str) -> None:
        try:
            frame = parse_client_frame(raw)
        except FrameError as error:
            # Every refused frame counts, an empty or oversized text too: the widget never
            # sends those, so twenty in a row is a broken or hostile client.
            client.bad_frames += 1
            await client.write(
                error_frame(error.reason, error.message, client_msg_id=error.client_msg_id)
            )
            return
        client.bad_frames = 0
        try:
            if isinstance(frame, MessageFrame):
                await self._on_message(client, frame)
            elif isinstance(frame, ResumeFrame):
                await self._on_resume(client, frame.after_id)
            elif isinstance(frame, TypingFrame):
                await self._on_typing(client)
            elif isinstance(frame, CsatFrame):
                await self._on_csat(client, frame)
        except Exception as error:  # a bug or an outage must not end the connection
            _log_failure(error, f"a frame from visitor {client.visitor_id} failed")
            await client.write(
                error_frame("temporarily_unavailable", "something went wrong; please try again")
            )

    async def _on_message(self, client: Socket, frame: MessageFrame) -> None:
        wait = self._limits.take(client.visitor_id)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            await client.write(
                error_frame(
                    "rate_limited",
                    f"too many messages; try again in {retry_after} s",
                    client_msg_id=frame.client_msg_id,
                    retry_after=retry_after,
                )
            )
            return
        client_msg_id = frame.client_msg_id or uuid.uuid4().hex
        try:
            inbound = inbound_message(client.visitor, frame.text, client_msg_id, self._clock.now())
            result = await self._ingest.ingest(inbound)
        except TextTooLong as error:
            await self._refuse(client, "text_too_long", str(error), client_msg_id)
            return
        except InvalidInput as error:
            await self._refuse(client, "invalid_input", str(error), client_msg_id)
            return
        except IngestStopped:
            await self._refuse(client, "unavailable", "the chat is restarting", client_msg_id)
            return
        except Exception as error:
            _log_failure(error, f"storing a message of visitor {client.visitor_id} failed")
            await self._refuse(
                client, "temporarily_unavailable", "please try again shortly", client_msg_id
            )
            return
        echo = encode_frame(message_frame(public_view(result.message), client_msg_id=client_msg_id))
        if result.duplicate:  # a resend after a reconnect: ack it to the sender only
            await client.write_text(echo)
            return
        log.info(
            "visitor %s: message %d in conversation %d",
            client.visitor_id,
            result.message.id,
            result.conversation.id,
        )
        await self._hub.push(client.visitor_id, echo)

    async def _on_resume(self, client: Socket, after_id: int) -> None:
        limit = self._settings.resume_limit
        found = await self._history.thread_messages(
            client.visitor.thread, after_id, limit, now=self._clock.now()
        )
        for message in customer_view(found):
            await client.write(message_frame(message))
        last_id = found[-1].id if found else after_id
        await client.write(resumed_frame(last_id, more=len(found) >= limit))

    async def _on_typing(self, client: Socket) -> None:
        now = self._clock.now()
        last = self._typing_at.get(client.visitor_id)
        if last is not None and now - last < TYPING_INTERVAL:
            return
        self._typing_at[client.visitor_id] = now
        try:
            await self._bus.publish([CustomerTyping(client.visitor.thread, now)])
        except Exception as error:  # a hint for agents; not worth an error frame
            _log_failure(error, f"publishing typing of visitor {client.visitor_id} failed")

    async def _on_csat(self, client: Socket, frame: CsatFrame) -> None:
        """A rating from the widget's buttons, for the visitor's current conversation once it
        is resolved (a later rating replaces an earlier one)."""
        conversation = await self._history.current_conversation(client.visitor.thread)
        if self._ratings is None or conversation is None or conversation.is_open:
            await client.write(
                error_frame("not_rateable", "there is no resolved conversation to rate")
            )
            return
        await self._ratings.rate(conversation.id, frame.rating, frame.comment, self._clock.now())
        log.info("visitor %s rated conversation %d", client.visitor_id, conversation.id)
        await client.write(csat_frame(conversation, frame.rating))

    async def _refuse(self, client: Socket, reason: str, message: str, client_msg_id: str) -> None:
        await client.write(error_frame(reason, message, client_msg_id=client_msg_id))

    # --- visitors -------------------------------------------------------------------------

    def _thread(self, visitor_id: str) -> ThreadRef:
        return ThreadRef(CHANNEL, self.account, visitor_id)

    def _disconnected(self, client: Socket) -> None:
        """Unregister a closed tab; once the visitor has none, drop their per-visitor state."""
        if not self._hub.unregister(client):
            return
        self._typing_at.pop(client.visitor_id, None)
        self._limits.went_offline(client.visitor_id, self._hub.online())


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status, headers=headers)


def _log_failure(error: BaseException, what: str) -> None:
    """Log an unexpected error by its type only: database errors quote the statement's
    parameters, which may be a visitor's message or address. The traceback goes to DEBUG."""
    log.error("%s: %s", what, type(error).__name__)
    log.debug("%s", what, exc_info=error)
