"""The Telegram channel: one bot, through aiogram's ``Bot`` pointed at ``api_server``.

* Inbound: long polling (:mod:`.polling`) by default, run by one process at a time under the
  ``singletons`` lock, or the webhook (:mod:`.webhook`); each update is handled by
  :class:`.inbound.UpdateHandler`, which commits before Telegram is told the update arrived.
* Outbound: :class:`.sender.Sender`, paced by :class:`.pacing.Pacer`, errors mapped by
  :func:`.errors.channel_error`.
* Lifecycle: the constructor does no I/O. :meth:`start` returns at once and connects in the
  background (``getMe``, then ``setWebhook`` or ``deleteWebhook``, then polling), so a
  Telegram outage does not hold up the bridge; ``/readyz`` shows ``starting``, ``ok``,
  ``degraded`` (backing off) or ``down`` (a refused token or a configuration mistake, with
  what to do about it).
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.utils.token import TokenValidationError
from aiohttp import web

from bridge.deps import ChannelDeps
from bridge.errors import TransientChannelError
from bridge.model import source_key
from bridge.outbound import Capabilities, OutboundMessage, SentReceipt
from bridge.ports import ComponentState, Health
from bridge.tasks import TaskGroup
from channels.telegram.convert import (
    CHANNEL,
)
from channels.telegram.errors import MAPPED, channel_error
from channels.telegram.inbound import RecentUpdates, UpdateHandler
from channels.telegram.pacing import Pacer
from channels.telegram.polling import ALLOWED_UPDATES, Poller, backoff
from channels.telegram.sender import Sender
from channels.telegram.session import KeyedSession
from channels.telegram.settings import TelegramSettings
from channels.telegram.splitting import (
    MAX_TEXT,
)
from channels.telegram.webhook import PATH, receive

log = logging.getLogger(__name__)

#: What Telegram accepts as a secret_token (https://core.telegram.org/bots/api#setwebhook).
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: Sends wait this long, at most, while the channel is down before the dispatcher retries.
DOWN_RETRY = 30.0


class TelegramAdapter:
    def __init__(self, settings: TelegramSettings, deps: ChannelDeps) -> None:
        self._settings = settings
        self._deps = deps
        self._source = source_key(CHANNEL, settings.account)
        self._health = ComponentState(Health.STOPPED)
        self._seen = RecentUpdates()
        self._pacer = Pacer(
            settings.messages_per_second, settings.chat_interval, settings.group_interval
        )
        self._tasks = TaskGroup(f"telegram:{settings.account}")
        self._bot: Bot | None = None
        self._sender: Sender | None = None
        self._handler: UpdateHandler | None = None
        self._poller: Poller | None = None
        self._username: str | None = None
        self._running = False
        self._settled = asyncio.Event()  # the state left "starting"

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
            edits=True, attachments=True, typing=True, max_text_length=MAX_TEXT, live_chat=True
        )

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self._webhook)]

    def state(self) -> ComponentState:
        return self._health

    @property
    def poller(self) -> Poller | None:
        return self._poller

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._settled.clear()
        problem = self._configuration_problem()
        if problem is not None:
            self._report(Health.DOWN, problem)
            log.error("telegram channel %s not started: %s", self.account, problem)
            return
        settings = self._settings
        try:
            bot = Bot(
                settings.token,
                session=KeyedSession(
                    api=TelegramAPIServer.from_base(settings.api_server),
                    timeout=settings.request_timeout,
                ),
            )
        except TokenValidationError:
            self._report(
                Health.DOWN,
                "channels.telegram.token is not a bot token (it looks like 123456:ABC-...; "
                "get it from @BotFather)",
            )
            return
        self._bot = bot
        self._sender = Sender(
            bot,
            self._pacer,
            self._deps.files,
            links=self._deps.links,
            clock=self._deps.clock,
            source=self._source,
            timeout=int(settings.request_timeout),
            rating_buttons=self._deps.ratings is not None,
        )
        self._handler = UpdateHandler(
            bot, self._sender, self._deps, settings, bot_username=lambda: self._username
        )
        self._report(Health.STARTING, "connecting to the Bot API")
        self._tasks.spawn(self._connect(), "connect")

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        await self._tasks.cancel_all()
        if self._bot is not None:
            await self._bot.session.close()
        self._bot = self._sender = self._handler = self._poller = None
        self._health = ComponentState(Health.STOPPED)
        log.info("telegram channel %s stopped", self.account)

    async def send(self, out: OutboundMessage) -> SentReceipt:
        if self._sender is None:
            detail = self._health.detail or "not running"
            raise TransientChannelError(
                f"the Telegram channel is down: {detail}", retry_after=DOWN_RETRY
            )
        return await self._sender.send(out)

    # --- connecting -----------------------------------------------------------------------

    def _configuration_problem(self) -> str | None:
        settings = self._settings
        if settings.mode == "webhook":
            if not settings.webhook_secret:
                return (
                    "webhook mode needs channels.telegram.webhook_secret, so that only Telegram "
                    "can post updates"
                )
            if not _SECRET.match(settings.webhook_secret):
                return (
                    "channels.telegram.webhook_secret may only hold letters, digits, '_' and "
                    "'-' (1-256 characters)"
                )
        return None

    def _report(self, health: Health, detail: str) -> None:
        if self._running or health is Health.STOPPED:
            self._health = ComponentState(health, detail)
        if health is not Health.STARTING:
            self._settled.set()

    async def settled(self, timeout: float = 10.0) -> ComponentState:
        """The state once connecting succeeded or failed (for tests and benches)."""
        async with asyncio.timeout(timeout):
            await self._settled.wait()
        return self._health

    async def _connect(self) -> None:
        """getMe, then the mode's setup, retried until they work; then polling."""
        bot = self._bot
        assert bot is not None
        pause = backoff(self._settings.poll_backoff_max)
        while True:
            try:
                me = await bot.get_me(request_timeout=int(self._settings.request_timeout))
                self._username = me.username
                await self._set_mode(bot)
                break
            except TelegramUnauthorizedError:
                self._report(
                    Health.DOWN,
                    "the Bot API refused the token (401): check channels.telegram.token "
                    "(from @BotFather) and restart",
                )
                log.error("telegram channel %s: the token was refused", self.account)  # noqa: TRY400
                return
            except MAPPED as error:
                reason = channel_error(error).reason
                if pause.counter == 0:
                    log.warning("telegram channel %s cannot connect yet: %s", self.account, reason)
                self._report(Health.DEGRADED, f"cannot reach the Bot API, retrying: {reason}")
                await pause.asleep()
        log.info(
            "telegram channel %s connected as @%s (%s mode)",
            self.account,
            self._username,
            self._settings.mode,
        )
        if self._settings.mode == "webhook":
            self._report(Health.OK, "webhook")
            return
        assert self._handler is not None
        self._poller = Poller(
            bot,
            self._handler,
            self._deps.cursors,
            self._deps.clock,
            source=self._source,
            timeout=self._settings.poll_timeout,
            request_timeout=self._settings.request_timeout,
            backoff_max=self._settings.poll_backoff_max,
            seen=self._seen,
            report=self._report,
            on_recovered=lambda: self._deps.feedback.destination_recovered(self._source),
        )
        # One poller per bot across processes (Telegram ends a second one with 409): the others
        # stand by and take over within seconds of the holder dying (DESIGN.md, scale-out).
        self._report(Health.OK, "polling")
        await self._deps.singletons.run(f"{self._source}:polling", self._poll)

    async def _poll(self) -> None:
        assert self._poller is not None
        self._report(Health.OK, "polling")
        try:
            await self._poller.run()
        finally:
            self._report(Health.OK, "standing by: another process polls")

    async def _set_mode(self, bot: Bot) -> None:
        timeout = int(self._settings.request_timeout)
        if self._settings.mode == "webhook":
            await bot.set_webhook(
                url=self._webhook_url(),
                secret_token=self._settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=timeout,
            )
        else:
            # Polling and a webhook exclude each other; what was pending stays pending.
            await bot.delete_webhook(drop_pending_updates=False, request_timeout=timeout)

    def _webhook_url(self) -> str:
        return self._settings.webhook_url or self._deps.public_url.rstrip("/") + PATH

    async def _webhook(self, request: web.Request) -> web.Response:
        if self._settings.mode != "webhook":
            return web.json_response(
                {"error": "not_found", "message": "the Telegram channel polls; no webhook here"},
                status=404,
            )
        return await receive(
            request,
            secret=self._settings.webhook_secret,
            bot=self._bot,
            handler=self._handler,
            seen=self._seen,
        )
