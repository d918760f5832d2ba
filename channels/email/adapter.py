"""The email channel: a mailbox read over IMAP (IDLE), replies sent over SMTP.

* Inbound: :class:`channels.email.watcher.Watcher` follows the mailbox and hands each mail
  to :class:`channels.email.intake.Intake` (parse, loop checks, threading, files, ingest).
* Outbound: :class:`channels.email.sending.Mailer` builds the reply with threading headers
  and sends it with aiosmtplib.
* Threads: :class:`channels.email.threads.ThreadBook`, kept in the link store.

Email is not live chat (no typing, no status chatter) and cannot edit what was sent.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bridge.deps import ChannelDeps
from bridge.model import source_key
from bridge.outbound import Capabilities, OutboundMessage, SentReceipt
from bridge.ports import ComponentState, Health
from bridge.tasks import TaskGroup
from channels.email.intake import Intake
from channels.email.sending import Mailer
from channels.email.settings import EmailSettings
from channels.email.threads import CHANNEL, ThreadBook
from channels.email.watcher import Watcher

log = logging.getLogger(__name__)

#: How long a stop waits for the message being stored to be finished (cursor included).
QUIESCE_SECONDS = 5.0


class EmailAdapter:
    def __init__(self, settings: EmailSettings, deps: ChannelDeps) -> None:
        self._settings = settings
        self.source = source_key(CHANNEL, settings.account)
        self.threads = ThreadBook(
            deps.links,
            deps.conversations,
            deps.clock,
            source=self.source,
            account=settings.account,
            new_subject_new_conversation=settings.new_subject_new_conversation,
        )
        self.intake = Intake(
            settings,
            source=self.source,
            threads=self.threads,
            ingest=deps.ingest,
            conversations=deps.conversations,
            files=deps.files,
            feedback=deps.feedback,
            clock=deps.clock,
        )
        self.watcher = Watcher(settings, self.intake, deps.cursors, deps.clock, source=self.source)
        self._mailer = Mailer(
            settings,
            threads=self.threads,
            conversations=deps.conversations,
            files=deps.files,
            links=deps.links,
            clock=deps.clock,
            source=self.source,
            salt=deps.public_url,
        )
        self._singletons = deps.singletons
        self._tasks = TaskGroup("email")
        self._running = False

    @property
    def channel(self) -> str:
        return CHANNEL

    @property
    def account(self) -> str:
        return self._settings.account

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(attachments=True, threads=True, live_chat=False)

    def routes(self) -> list[web.RouteDef]:
        return []

    async def start(self) -> None:
        if self._running:
            return
        problems = self._settings.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self._running = True
        self.watcher.resume()
        # One reader per mailbox across processes: the others stand by (DESIGN.md, scale-out).
        self._tasks.spawn(self._singletons.run(f"{self.source}:imap", self.watcher.run), "watcher")
        log.info("email channel %s started", self.source)

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        try:
            async with asyncio.timeout(QUIESCE_SECONDS):
                await self.watcher.quiesce()
        except TimeoutError:
            log.warning("email: stopping in the middle of a message; it will be fetched again")
        await self._tasks.cancel_all()
        await self._mailer.stop()
        log.info("email channel %s stopped", self.source)

    def state(self) -> ComponentState:
        if not self._running:
            return ComponentState(Health.STOPPED)
        return self.watcher.state

    async def send(self, out: OutboundMessage) -> SentReceipt:
        return await self._mailer.send(out)
