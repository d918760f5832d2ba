"""The Slack channel: the agents' workspace (a thread per conversation) and a customer channel.

Transport is slack-bolt's ``AsyncApp``: in HTTP mode its three endpoints are mounted on the
bridge's aiohttp app through bolt's own request/response converters, and bolt verifies
Slack's signature (HMAC-SHA256, 5-minute replay window) before anything else — a forged,
stale or altered request gets 401. With an app-level token it runs in Socket Mode instead
(``AsyncSocketModeHandler``), and the endpoints answer 503 unless a signing secret is set too.

Slack wants an answer within 3 seconds and retries otherwise (``X-Slack-Retry-Num``)
(https://docs.slack.dev/apis/events-api/#responding), and does not send again what it saw
answered 200. So a message event over HTTP is answered 200 only once it is stored: it goes to
a lane per Slack thread or DM (:mod:`channels.slack.lanes`), so a conversation's events are
handled in order, and the request waits for its turn to finish, ``ACK_WITHIN`` seconds at
most; a failure or a slower store gets 503, and Slack's retry comes again (a process killed
meanwhile simply never answers). Every task belongs to this adapter. Repeated deliveries of an
event already handled are dropped by ``event_id`` (an in-memory LRU; the store's unique
external ids catch the rest), and the app's own messages (its bot id and user id from
``auth.test``) are ignored, so nothing loops.

The parts: :mod:`~channels.slack.mirror` (bus -> threads), :mod:`~channels.slack.replies`
(threads -> conversations), :mod:`~channels.slack.customers` (customers writing from Slack,
and :meth:`send`), :mod:`~channels.slack.actions` (buttons, ``/queue``),
:mod:`~channels.slack.alerts`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt import BoltResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.deps import ChannelDeps
from bridge.errors import PermanentChannelError, TransientChannelError
from bridge.model import source_key
from bridge.outbound import Capabilities, OutboundMessage, SentReceipt
from bridge.ports import ComponentState
from bridge.tasks import TaskGroup
from channels.slack.actions import Actions
from channels.slack.alerts import Alerts, AlertState
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.blocks import ACTIONS, ESCALATION_VIEW
from channels.slack.convert import CHANNEL, MessageEvent, parse_message_event, slack_ref
from channels.slack.customers import CustomerSide
from channels.slack.errors import Failure, HealthBoard, advice
from channels.slack.lanes import Lanes
from channels.slack.mirror import Mirror
from channels.slack.pacing import Pacer
from channels.slack.replies import ThreadReplies
from channels.slack.settings import SlackSettings
from channels.slack.threads import Threads
from channels.slack.users import Directory

log = logging.getLogger(__name__)

#: Event ids remembered to drop Slack's retries of what was already taken.
SEEN_EVENTS = 10_000
#: Seconds an event request waits for its message to be stored before it answers 503
#: (Slack's deadline is 3 s).
ACK_WITHIN = 2.5
#: Web API calls at start (auth.test, conversations.info) give up after this long.
START_TIMEOUT = 10.0
#: Then the channel keeps trying in the background, this often.
RECONNECT_SECONDS = 30.0
ANY = re.compile(".*")


class SlackAdapter:
    def __init__(self, settings: SlackSettings, deps: ChannelDeps) -> None:
        self._settings = settings
        self._deps = deps
        self._source = source_key(CHANNEL, settings.account)
        self._health = HealthBoard()
        self._pacer = Pacer(settings.messages_per_second)
        self._inbound = Lanes("slack-inbound")
        self._tasks = TaskGroup("slack")
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._api: SlackApi | None = None
        self._app: AsyncApp | None = None
        #: Events over HTTP are answered only after they are handled (stored): an acknowledged
        #: event is never one a stop or a crash loses.
        self._events_app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._mirror: Mirror | None = None
        self._replies: ThreadReplies | None = None
        self._customers: CustomerSide | None = None
        self._actions: Actions | None = None
        self._bot_user = ""
        self._bot_id = ""
        self._team = ""
        self._running = False
        self.acknowledged = 0  # events taken in, for tests and metrics
        self.duplicates = 0

    # --- the ChannelAdapter port ----------------------------------------------------------

    @property
    def channel(self) -> str:
        return CHANNEL

    @property
    def account(self) -> str:
        return self._settings.account

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            edits=True, threads=True, attachments=True, live_chat=True, max_text_length=40_000
        )

    @property
    def mirror(self) -> Mirror | None:
        return self._mirror

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/slack/events", self._http),
            web.post("/slack/interactivity", self._http),
            web.post("/slack/commands", self._http),
        ]

    def state(self) -> ComponentState:
        return self._health.state()

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        settings = self._settings
        if not settings.app_token and not settings.signing_secret:
            self._health.report(
                Failure(
                    "setup",
                    "no_signing_secret",
                    advice="set channels.slack.signing_secret (HTTP mode) or "
                    "channels.slack.app_token (Socket Mode)",
                )
            )
            return
        self._session = aiohttp.ClientSession()
        client = AsyncWebClient(
            token=settings.bot_token, base_url=_with_slash(settings.api_url), session=self._session
        )
        self._api = SlackApi(client, self._pacer, self._health)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                connected = await self._connect()
        except TimeoutError:
            connected = False
        if not connected:
            self._tasks.spawn(self._reconnect(), "reconnect")

    async def _reconnect(self) -> None:
        connected = False
        while not connected:
            await asyncio.sleep(RECONNECT_SECONDS)
            connected = await self._connect()

    async def _connect(self) -> bool:
        """auth.test, the configured channels, then everything else; False to try again.
        Safe to call again after a failure: what is done stays done."""
        api = self._api
        assert api is not None
        if self._app is None:
            try:
                auth = await api.auth_test()
            except SlackFailure as error:
                if error.failure.kind == "setup":
                    return True  # a wrong token does not fix itself: /readyz says what to do
                log.warning("slack is not reachable yet (%s); trying again", error.failure.code)
                return False
            self._bot_user = str(auth.get("user_id", ""))
            self._bot_id = str(auth.get("bot_id", ""))
            self._team = str(auth.get("team_id", "?"))
            api.bot_name = str(auth.get("user") or "the bot")
            await self._check_channels(api)
            self._build(api)
        if self._settings.app_token:
            if self._socket is None:
                assert self._app is not None
                self._socket = AsyncSocketModeHandler(
                    self._app, self._settings.app_token, web_client=api.client
                )
                # Its connect retries by itself until it gets through: not on start's path.
                self._tasks.spawn(self._open_socket(self._socket), "socket-mode")
            return True
        self._health.started(f"http, team {self._team}")
        log.info("slack connected as %s (http)", self._bot_user)
        return True

    async def _open_socket(self, handler: AsyncSocketModeHandler) -> None:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        self._health.started(f"socket mode, team {self._team}")
        log.info("slack connected as %s (socket mode)", self._bot_user)

    async def _check_channels(self, api: SlackApi) -> None:
        """Each configured channel exists, is not archived and has the bot in it."""
        settings = self._settings
        wanted = set(settings.agent_channels) | set(settings.customer_channels)
        if settings.supervisor_channel:
            wanted.add(settings.supervisor_channel)
        for channel in sorted(wanted):
            try:
                info = await api.channel_info(channel)
            except SlackFailure:
                continue  # reported to the health board with what to do
            code = None
            if info.get("is_archived"):
                code = "is_archived"
            elif info.get("is_member") is False:
                code = "not_in_channel"
            if code is not None:
                self._health.report(
                    Failure(
                        "setup", code, advice=advice(code, channel, api.bot_name), channel=channel
                    )
                )

    def _build(self, api: SlackApi) -> None:
        settings, deps = self._settings, self._deps
        directory = Directory(api, deps.agents, deps.clock, settings.user_cache_seconds)
        threads = Threads(deps.links, self._source, deps.clock)
        self._replies = ThreadReplies(settings, api, directory, threads, deps)
        self._customers = CustomerSide(api, directory, deps, settings.account, self._source)
        self._actions = Actions(api, directory, deps)
        self._app = self._bolt_app(api.client)
        self._events_app = self._bolt_app(api.client, process_before_response=True)
        if settings.agent_channels:
            self._mirror = Mirror(settings, api, deps, threads, self._source)
            self._tasks.spawn(self._mirror.start(), "mirror-start")
        if settings.supervisor_channel and (
            settings.alert_queue_length or settings.alert_oldest_wait
        ):
            state = AlertState(
                settings.alert_queue_length,
                settings.alert_oldest_wait,
                settings.alert_recovery_ratio,
            )
            alerts = Alerts(
                api, deps.queue, settings.supervisor_channel, state, settings.alert_interval
            )
            self._tasks.spawn(alerts.run(), "alerts")

    async def quiesce(self, timeout: float) -> None:
        """Stop taking events and store the ones already acknowledged to Slack, while the
        pipeline still takes them (the runtime calls this before it stops ingest): Slack does
        not send again what it saw acknowledged."""
        if not self._running:
            return
        self._app = self._events_app = None  # new requests get 503: Slack delivers them later
        if self._socket is not None:
            await self._tasks.cancel_all()
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        await self._inbound.wait_idle(min(timeout, 5.0))

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        # From here requests get 503, so Slack delivers them again later instead of them
        # being acknowledged and then dropped.
        self._app = self._events_app = None
        if self._socket is not None:
            await self._tasks.cancel_all()  # a connect still under way
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._mirror is not None:
            await self._mirror.stop()
        await self._inbound.wait_idle(5.0)
        await self._inbound.close()
        await self._tasks.cancel_all()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._health.stopped()
        log.info("slack stopped")

    async def send(self, out: OutboundMessage) -> SentReceipt:
        if self._customers is None:
            problems = self._health.problems
            if problems:  # a wrong token or setup: retrying will not help
                raise PermanentChannelError(problems[0].advice)
            raise TransientChannelError("slack is not connected yet", retry_after=RECONNECT_SECONDS)
        return await self._customers.send(out)

    async def settle(self, timeout: float = 10.0) -> bool:
        """Wait until taken events are handled and the mirror is idle (tests, benchmarks)."""
        if not await self._inbound.wait_idle(timeout):
            return False
        return self._mirror is None or await self._mirror.settle(timeout)

    # --- bolt -----------------------------------------------------------------------------

    def _bolt_app(
        self, client: AsyncWebClient, *, process_before_response: bool = False
    ) -> AsyncApp:
        app = AsyncApp(
            client=client,
            signing_secret=self._settings.signing_secret,
            process_before_response=process_before_response,
            name="bridge",
            logger=logging.getLogger("channels.slack.bolt"),
        )
        app.event(ANY)(self._on_event)
        app.action(ANY)(self._on_action)
        app.view(ANY)(self._on_view)
        app.command(ANY)(self._on_command)
        return app

    async def _http(self, request: web.Request) -> web.StreamResponse:
        app = self._events_app if request.path == "/slack/events" else self._app
        if app is None or not self._settings.signing_secret:
            return web.json_response(
                {"error": "unavailable", "message": "the Slack channel is not ready"}, status=503
            )
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _on_event(
        self, body: dict[str, Any], request: AsyncBoltRequest
    ) -> BoltResponse | None:
        """Over HTTP this runs before bolt answers Slack: a message is handled in its lane and
        answered 200 once stored, 503 when that failed or takes too long (Slack retries).
        In Socket Mode bolt has acknowledged already; the answer returned here is unused."""
        event_id = str(body.get("event_id", ""))
        if event_id in self._seen:
            self.duplicates += 1
            retry = request.headers.get("x-slack-retry-num", ["-"])[0]
            log.debug("slack event %s repeated (retry %s); dropped", event_id, retry)
            return None
        event = body.get("event") or {}
        kind = event.get("type")
        if kind == "message":
            parsed = parse_message_event(event)
            if parsed is not None and parsed.kind != "other" and not self._is_own(parsed):
                team = str(body.get("team_id", ""))
                problem = await self._handled(parsed, team)
                if problem is not None:
                    log.warning("slack event %s not stored yet (%s); 503", event_id, problem)
                    return BoltResponse(status=503, body="")
        elif kind in ("app_uninstalled", "tokens_revoked"):
            self._health.report(
                Failure("setup", "token_revoked", advice=advice("token_revoked", None))
            )
        self.acknowledged += 1
        if event_id:
            self._seen[event_id] = None
            if len(self._seen) > SEEN_EVENTS:
                self._seen.popitem(last=False)
        return None

    async def _handled(self, event: MessageEvent, team: str) -> str | None:
        """Handle ``event`` in its lane and wait for it; None when done, else why not (the
        job may still finish later: a retry of the event is then a duplicate the store drops)."""
        done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        async def job() -> None:
            outcome: str | None = "stopped"
            try:
                await self._route(event, team)
                outcome = None
            except Exception as error:
                outcome = type(error).__name__  # the lane logs it
                raise
            finally:
                if not done.done():
                    done.set_result(outcome)

        self._inbound.submit(_lane(event), job, "event")
        try:
            async with asyncio.timeout(ACK_WITHIN):
                return await asyncio.shield(done)
        except TimeoutError:
            return "timeout"

    def _is_own(self, event: MessageEvent) -> bool:
        return (event.bot_id is not None and event.bot_id == self._bot_id) or (
            event.user is not None and event.user == self._bot_user
        )

    async def _route(self, event: MessageEvent, team: str) -> None:
        settings = self._settings
        if event.channel in settings.agent_channels:
            assert self._replies is not None
            await self._replies.handle(event, team)
        elif event.channel in settings.customer_channels or (
            event.is_direct and settings.direct_messages
        ):
            assert self._customers is not None
            await self._customers.handle(event)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        actions = body.get("actions") or [{}]
        if self._actions is not None and actions[0].get("action_id") in ACTIONS:
            self._tasks.spawn(self._actions.button(body), "button")

    async def _on_view(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        if (
            body.get("type") != "view_submission"
            or view.get("callback_id") != ESCALATION_VIEW
            or self._actions is None
        ):
            await ack()
            return
        # Escalated before the answer (well within the 3 s), so a refusal shows in the form.
        errors = await self._actions.escalation(body)
        if errors is None:
            await ack()
        else:
            await ack(**errors)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        if self._actions is None or body.get("command") != "/queue":
            return

        async def say(text: str) -> None:
            await respond(text, response_type="ephemeral")

        self._tasks.spawn(self._actions.queue_command(body, say), "queue-command")


def _lane(event: MessageEvent) -> str:
    """Events are handled in order per conversation: per DM, per thread elsewhere (a message,
    its replies, edits and deletions share their thread's root ts)."""
    if event.is_direct:
        return event.channel
    return slack_ref(event.channel, event.thread_ts or event.ts)


def _with_slash(url: str) -> str:
    """slack_sdk joins base_url and the method name without adding a slash."""
    return url if url.endswith("/") else url + "/"
