"""Building the bridge from settings, and its start/stop order.

Start: storage (schema) -> bus -> ingest -> channels -> dispatcher. A channel that fails to
start is reported on ``/readyz`` while the others run.
Stop: ingest stops taking messages and commits what it has -> the dispatcher drains the
outbox under ``server.shutdown_timeout`` -> channels disconnect -> bus -> storage.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bridge.clock import SystemClock
from bridge.conversations import ConversationService
from bridge.deps import ChannelDeps
from bridge.dispatcher import Dispatcher, RetryPolicy
from bridge.ingest import Ingestor
from bridge.model import Conversation, ThreadRef, source_key
from bridge.ports import ChannelAdapter, Clock, ComponentState, ConversationPolicy
from bridge.tasks import TaskGroup
from channels.webchat.adapter import WebchatAdapter
from config.schema import Settings
from routing.hours import BusinessHours
from routing.router import Router, RouterSettings
from routing.sla import SlaPolicy
from routing.texts import Texts
from runtime.email import build_email
from runtime.inbox import build_inbox
from runtime.metrics import Metrics
from runtime.readiness import Readiness
from runtime.slack import build_slack
from runtime.telegram import build_telegram
from storage.bus import InProcessBus
from storage.files import LocalFileStore
from storage.locks import LocalSingletons, RedisSingletons
from storage.redis_bus import RedisBus
from storage.store import Storage
from web.app import build_app
from web.services import WebServices
from web.status_links import LinkRatings

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 5.0
#: How often the database and the bus are checked for coming back after an outage.
WATCH_SECONDS = 2.0


class Runtime:
    """Everything configured, built without I/O; :meth:`start` connects."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.storage = Storage.open(
            settings.storage.database_url,
            sqlite_synchronous=settings.storage.sqlite_synchronous.upper(),
            pool_size=settings.storage.pool_size,
        )
        redis_url = settings.storage.redis_url
        prefix = settings.storage.redis_prefix
        self.bus: InProcessBus | RedisBus = (
            RedisBus(redis_url, prefix=prefix) if redis_url else InProcessBus()
        )
        self.singletons: LocalSingletons | RedisSingletons = (
            RedisSingletons(redis_url, prefix=prefix) if redis_url else LocalSingletons()
        )
        self.policy = ConversationPolicy(
            reopen_window=timedelta(hours=settings.routing.reopen_window_hours),
            default_team=settings.routing.default_team,
            returning_position=settings.routing.returning_position,
        )
        self.metrics_observers = _Observers()
        self.ingestor = Ingestor(
            self.storage.ingest,
            self.bus,
            self.policy,
            self.clock,
            edits=self.storage.conversations,
            observer=self.metrics_observers.on_ingest,
        )
        self.service = ConversationService(
            self.storage.conversations, self.bus, self.clock, can_edit=self._can_edit
        )
        self.files = LocalFileStore(
            Path(settings.storage.files_dir), settings.storage.max_file_bytes
        )
        self.router = Router(
            self.storage.routing,
            self.storage.conversations,
            self.service,
            self.bus,
            self.clock,
            router_settings(settings),
            live_chat=self._live_chat,
            status_url=self._status_url,
        )
        self.inbox, self.csat = build_inbox(
            settings,
            self.storage,
            router=self.router,
            service=self.service,
            ingest=self.ingestor,
            bus=self.bus,
            clock=self.clock,
        )
        self.adapters: dict[str, ChannelAdapter] = {}
        self._webchats: list[WebchatAdapter] = []
        self.channel_errors: dict[str, str] = {}
        routes: list[web.RouteDef] = []
        webchat_settings = settings.channels.webchat
        if webchat_settings.enabled:
            webchat = WebchatAdapter(
                webchat_settings,
                ingest=self.ingestor,
                history=self.storage.conversations,
                visitors=self.storage.visitors,
                bus=self.bus,
                clock=self.clock,
                queue=self.router,
                ratings=self.storage.feedback,
            )
            self.adapters[source_key(webchat.channel, webchat.account)] = webchat
            self._webchats.append(webchat)
            routes += webchat.routes()
        outbox = settings.outbox
        self.dispatcher: Dispatcher = Dispatcher(
            self.storage.outbox,
            self.adapters,
            self.bus,
            self.clock,
            owner=self.owner,
            retry=RetryPolicy(
                initial=outbox.retry_initial,
                maximum=outbox.retry_max,
                max_attempts=outbox.max_attempts,
                lease=timedelta(seconds=outbox.lease_seconds),
            ),
            concurrency=outbox.concurrency,
            observer=self.metrics_observers.on_delivery,
        )
        self.metrics = Metrics(
            self.router,
            self.bus,
            self.clock,
            sessions=lambda: sum(a.sessions() for a in self._webchats),
        )
        self.metrics_observers.target = self.metrics
        routes += self.metrics.routes()
        deps = ChannelDeps(
            ingest=self.ingestor,
            history=self.storage.conversations,
            conversations=self.storage.conversations,
            service=self.service,
            queue=self.router,
            agents=self.storage.agents,
            cursors=self.storage.cursors,
            links=self.storage.links,
            files=self.files,
            feedback=self.dispatcher,
            bus=self.bus,
            clock=self.clock,
            public_url=settings.public_url,
            var_dir=Path(settings.storage.files_dir).parent,
            singletons=self.singletons,
            ratings=LinkRatings(
                self.inbox.status_pages,
                self.storage.feedback,
                self.storage.conversations,
                self.clock,
            )
            if settings.web.csat_enabled
            else None,
        )
        channels = settings.channels
        for channel in (
            build_telegram(channels.telegram, deps),
            build_slack(channels.slack, deps),
            build_email(channels.email, deps),
        ):
            if channel is not None:
                self.adapters[source_key(channel.channel, channel.account)] = channel
                routes += channel.routes()
        parts: dict[str, Callable[[], ComponentState]] = {
            "bus": self.bus.state,
            "ingest": self.ingestor.state,
            "outbox": self.dispatcher.state,
            "router": self.router.state_of,
        }
        if isinstance(self.singletons, RedisSingletons):
            parts["locks"] = self.singletons.state
        self._readiness = Readiness(
            ping=self.storage.database.ping,
            dialect=self.storage.database.dialect,
            parts=parts,
            adapters=self.adapters,
            channel_errors=self.channel_errors,
            deliveries=self.storage.delivery_status,
            clock=self.clock,
            overdue_after=timedelta(seconds=settings.outbox.overdue_after),
        )
        self.web_app = build_app(
            WebServices(
                conversations=self.storage.conversations,
                service=self.service,
                agents=self.storage.agents,
                bus=self.bus,
                clock=self.clock,
                readiness=self.readiness,
                queue=self.router,
                files=self.files,
                inbox=self.inbox,
                title=webchat_settings.title,
                webchat_enabled=webchat_settings.enabled,
            ),
            channel_routes=routes,
            max_body_bytes=settings.server.max_body_bytes,
        )
        self._started = False
        self._maintenance = TaskGroup("maintenance")

    async def _watch_dependencies(self) -> None:
        """When the database or the bus comes back after an outage, rebuild the router's live
        view from the store: events it could not handle meanwhile (its store calls failed) or
        that Redis lost in a restart would otherwise leave it off until the next resync."""
        database_down = bus_down = False
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                async with asyncio.timeout(WATCH_SECONDS):
                    await self.storage.database.ping()
            except Exception as error:
                if not database_down:
                    log.warning("the database cannot be reached: %s", type(error).__name__)
                database_down = True
                continue
            bus_ready = self.bus.state().ready
            if database_down or (bus_down and bus_ready):
                log.info("the database and the bus work again; refreshing the live queue")
                try:
                    await self.router.resync()
                except Exception as error:
                    log.warning("refreshing the live queue failed: %s", type(error).__name__)
                    continue
                self.dispatcher.wake()
            database_down, bus_down = False, not bus_ready

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            try:
                await self.storage.database.checkpoint()
            except Exception:
                log.exception("the database checkpoint failed; retrying later")

    async def start(self) -> None:
        await self.storage.prepare(auto_migrate=self.settings.storage.auto_migrate)
        await self.bus.start()
        await self.ingestor.start()
        for name, adapter in self.adapters.items():
            try:
                await adapter.start()
            except Exception as error:
                self.channel_errors[name] = f"{type(error).__name__}: {error}"
                log.exception("channel %s failed to start; the others keep running", name)
        await self.dispatcher.start()
        await self.router.start()
        await self.csat.start()
        await self.metrics.start()
        self._maintenance.spawn(self._checkpoints(), "checkpoints")
        self._maintenance.spawn(self._watch_dependencies(), "watch-dependencies")
        self._started = True
        log.info(
            "bridge started: storage %s, channels %s",
            self.storage.database.dialect,
            ", ".join(self.adapters) or "none",
        )

    async def stop(self) -> None:
        if not self._started:
            await self.storage.close()
            return
        self._started = False
        timeout = self.settings.server.shutdown_timeout
        await self.router.stop()
        await self.csat.stop()
        await self.metrics.stop()
        await self._maintenance.cancel_all()
        # Channels that acknowledged input before storing it (Slack answers within 3 s, then
        # handles the event) hand what they hold to the pipeline before it stops taking more.
        for name, adapter in self.adapters.items():
            quiesce = getattr(adapter, "quiesce", None)
            if quiesce is not None:
                try:
                    await quiesce(timeout)
                except Exception:
                    log.exception("channel %s did not hand over its input", name)
        await self.ingestor.stop(timeout)
        await self.dispatcher.stop(timeout)
        for name, adapter in self.adapters.items():
            try:
                await adapter.stop()
            except Exception:
                log.exception("channel %s did not stop cleanly", name)
        await self.bus.stop()
        if isinstance(self.singletons, RedisSingletons):
            await self.singletons.close()
        await self.storage.close()
        log.info("bridge stopped")

    async def _status_url(self, conversation: Conversation) -> str:
        return await self.inbox.status_pages.status_url(conversation)

    def _can_edit(self, destination: ThreadRef) -> bool:
        adapter = self.adapters.get(destination.source)
        return adapter is not None and adapter.capabilities.edits

    def _live_chat(self, source: str) -> bool:
        adapter = self.adapters.get(source)
        return adapter is not None and adapter.capabilities.live_chat

    async def readiness(self) -> dict[str, ComponentState]:
        return await self._readiness()


def router_settings(settings: Settings) -> RouterSettings:
    """The router's policy, from the [routing] section (validated at load)."""
    routing = settings.routing
    acks = routing.acknowledgements
    return RouterSettings(
        sla=SlaPolicy(
            first_response={k: float(v) for k, v in routing.first_response_targets.items()},
            next_response={k: float(v) for k, v in routing.next_response_targets.items()},
        ),
        texts=Texts(routing.texts),
        strict_fifo=routing.strict_fifo,
        strict_priority=routing.strict_priority,
        requeue_on_offline=routing.requeue_on_offline,
        escalation_keeps_wait=routing.escalation_keeps_wait,
        cap_at_target=acks.cap_at_target,
        acknowledgements=acks.enabled,
        ack_max_per_hour=acks.max_per_customer_per_hour,
        ack_quiet_after_reply=timedelta(seconds=acks.quiet_after_agent_reply),
        status_words=frozenset(w.lower() for w in acks.status_words),
        status_interval=timedelta(seconds=acks.status_interval),
        delay_margin=timedelta(seconds=acks.delay_margin),
        idle_after={k: timedelta(seconds=v) for k, v in routing.idle_after.items()},
        bot_name=acks.bot_name,
        default_team=routing.default_team,
        hours={team: BusinessHours.from_settings(h) for team, h in routing.teams.items()},
    )


class _Observers:
    """Forwards the pipeline's observations to the metrics, which are built after it."""

    def __init__(self) -> None:
        self.target: Metrics | None = None

    def on_ingest(self, channel: str, seconds: float) -> None:
        if self.target is not None:
            self.target.on_ingest(channel, seconds)

    def on_delivery(self, channel: str, state: str, error: str | None, seconds: float) -> None:
        if self.target is not None:
            self.target.on_delivery(channel, state, error, seconds)
