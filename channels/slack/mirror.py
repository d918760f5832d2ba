"""The agents' side: one thread per conversation, every message mirrored into it.

The mirror follows the bus and turns events into jobs on per-channel lanes
(:mod:`channels.slack.lanes`), so each thread's posts, reactions and root updates happen in
order while channels proceed side by side, paced (:mod:`channels.slack.pacing`).

Nothing accepted is lost: the id of the last message mirrored is a cursor in the store
(``mirror``); after a restart the mirror first catches up from the store
(``messages_after``), then follows the bus. The cursor only moves past a message once it is in
Slack (or given up on), whatever order the lanes finish in (:class:`Watermark`). On the very
first start there is no cursor, and the mirror begins with the first new message.

Messages an agent typed in a thread are not posted again: their client key
(``slack:<team>:<ts>``) names the Slack message that already shows them.

What goes into a thread, and how posts are retried: :mod:`channels.slack.posts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bridge.deps import ChannelDeps
from bridge.events import (
    ConversationOpened,
    ConversationReopened,
    ConversationUpdated,
    DeliveryFailed,
    DeliverySent,
    Event,
    MessageAdded,
    MessageEdited,
    MessageRetracted,
    SlaBreached,
)
from bridge.model import Conversation, Message
from bridge.ports import Subscription
from bridge.tasks import TaskGroup
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.blocks import breach_text
from channels.slack.convert import split_ref
from channels.slack.errors import log_failure
from channels.slack.lanes import Lanes
from channels.slack.posts import ThreadWriter
from channels.slack.settings import SlackSettings
from channels.slack.threads import Threads

log = logging.getLogger(__name__)

KINDS = frozenset(
    {
        MessageAdded.kind,
        MessageEdited.kind,
        MessageRetracted.kind,
        ConversationOpened.kind,
        ConversationReopened.kind,
        ConversationUpdated.kind,
        DeliverySent.kind,
        DeliveryFailed.kind,
        SlaBreached.kind,
    }
)
CURSOR = "mirror"
CATCH_UP_PAGE = 200
#: How long a post is retried (transient and setup failures) before it is given up.
CURSOR_SAVE_INTERVAL = 1.0


class Watermark:
    """The highest message id below which everything was mirrored, whatever order the
    lanes finish in. Never moves back."""

    def __init__(self, start: int) -> None:
        self.value = start
        self._seen = start
        self._pending: set[int] = set()

    def begin(self, message_id: int) -> None:
        self._pending.add(message_id)
        self._seen = max(self._seen, message_id)

    def end(self, message_id: int) -> None:
        self._pending.discard(message_id)
        mark = min(self._pending) - 1 if self._pending else self._seen
        self.value = max(self.value, mark)


class Mirror:
    def __init__(
        self,
        settings: SlackSettings,
        api: SlackApi,
        deps: ChannelDeps,
        threads: Threads,
        source: str,
    ) -> None:
        self._settings = settings
        self._api = api
        self._deps = deps
        self._threads = threads
        self._source = source
        self._lanes = Lanes("slack-mirror")
        self._tasks = TaskGroup("slack-mirror")
        self._subscription: Subscription | None = None
        self._watermark: Watermark | None = None
        self._saved: int | None = None
        self._caught_up_to = 0
        #: Channels of threads being created, before their root is posted.
        self._channel_of: dict[int, str] = {}
        self._root_timers: dict[int, asyncio.TimerHandle] = {}
        self._writer = ThreadWriter(api, deps, threads)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = self._deps.bus.subscribe(KINDS)
        cursor = await self._deps.cursors.get_cursor(self._source, CURSOR)
        if cursor is not None:
            self._watermark = Watermark(int(cursor))
            self._saved = int(cursor)
        self._tasks.spawn(self._run(self._subscription), "follow")
        self._tasks.spawn(self._save_cursor_loop(), "cursor")
        if self._settings.root_refresh_interval > 0:
            self._tasks.spawn(self._refresh_loop(), "refresh")

    async def stop(self, timeout: float = 5.0) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        for timer in self._root_timers.values():
            timer.cancel()
        self._root_timers.clear()
        await self._lanes.wait_idle(timeout)
        await self._tasks.cancel_all()
        await self._lanes.close()
        await self._save_cursor()

    async def settle(self, timeout: float = 10.0) -> bool:
        """Wait until the bus backlog and every lane are done (tests, shutdown)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    backlog = self._subscription.backlog() if self._subscription else 0
                    if not backlog and not self._root_timers and not self._lanes.pending():
                        return True
                    await asyncio.sleep(0.01)
        except TimeoutError:
            return False

    async def _save_cursor_loop(self) -> None:
        while True:
            await asyncio.sleep(CURSOR_SAVE_INTERVAL)
            try:
                await self._save_cursor()
            except Exception as error:
                log_failure(log, error, "saving the mirror cursor failed")

    async def _save_cursor(self) -> None:
        mark = self._watermark
        if mark is None or mark.value == self._saved:
            return
        await self._deps.cursors.set_cursor(
            self._source, CURSOR, str(mark.value), self._deps.clock.now()
        )
        self._saved = mark.value

    async def _run(self, subscription: Subscription) -> None:
        if self._watermark is not None:
            await self._catch_up(self._watermark.value)
        async for event in subscription:
            try:
                await self._on(event)
            except Exception as error:
                log_failure(log, error, f"mirroring {event.kind} failed")

    async def _catch_up(self, after: int) -> None:
        conversations: dict[int, Conversation] = {}
        count = 0
        while True:
            batch = await self._deps.conversations.messages_after(after, CATCH_UP_PAGE)
            if not batch:
                break
            for message in batch:
                conversation = conversations.get(message.conversation_id)
                if conversation is None:
                    conversation = await self._deps.conversations.get_conversation(
                        message.conversation_id
                    )
                    conversations[conversation.id] = conversation
                await self._mirror(message, conversation)
            after = batch[-1].id
            self._caught_up_to = after
            count += len(batch)
        if count:
            log.info("slack mirror caught up with %d messages", count)

    # --- events ---------------------------------------------------------------------------

    async def _on(self, event: Event) -> None:
        if isinstance(event, MessageAdded):
            if event.message.id > self._caught_up_to:
                await self._mirror(event.message, event.conversation)
        elif isinstance(event, MessageEdited):
            await self._on_thread(event.conversation, self._writer.edited(event.message))
        elif isinstance(event, MessageRetracted):
            await self._on_thread(event.conversation, self._writer.retracted(event.message))
        elif isinstance(event, ConversationOpened | ConversationReopened | ConversationUpdated):
            self._schedule_root(event.conversation.id)
        elif isinstance(event, DeliverySent):
            await self._on_thread(event.conversation_id, self._writer.sent(event.message_id))
        elif isinstance(event, DeliveryFailed):
            await self._on_thread(
                event.conversation_id, self._writer.failed(event.message_id, event.reason)
            )
        elif isinstance(event, SlaBreached):
            self._writer.overdue(event.conversation_id, event.due_at)
            text = breach_text(event.response, event.due_at)
            await self._on_thread(event.conversation_id, self._writer.notice(text))
            self._schedule_root(event.conversation_id)

    async def _channel(self, conversation_id: int) -> str | None:
        """The channel of a conversation's thread, if it has one (or one is being made)."""
        channel = self._channel_of.get(conversation_id)
        if channel is not None:
            return channel
        ref = await self._threads.thread_of(conversation_id)
        return split_ref(ref)[0] if ref is not None else None

    async def _on_thread(
        self, conversation: Conversation | int, job: Callable[[int], Awaitable[None]]
    ) -> None:
        conversation_id = conversation if isinstance(conversation, int) else conversation.id
        channel = await self._channel(conversation_id)
        if channel is None:
            return  # never mirrored (from before the mirror started): nothing to change

        async def run() -> None:
            await job(conversation_id)

        self._lanes.submit(channel, run, "update")

    # --- messages -------------------------------------------------------------------------

    async def _mirror(self, message: Message, conversation: Conversation) -> None:
        if self._watermark is None:  # the very first start: begin here
            self._watermark = Watermark(message.id - 1)
        channel = await self._channel(conversation.id)
        if channel is None:
            channel = self._settings.channel_for_team(conversation.team)
            if not channel:
                return
            self._channel_of[conversation.id] = channel
        mark = self._watermark
        mark.begin(message.id)
        self._writer.remember(message)

        async def job() -> None:
            failure = None
            try:
                root = await self._writer.ensure_thread(conversation, channel)
                self._channel_of.pop(conversation.id, None)
                await self._writer.post_message(message, conversation, root)
            except SlackFailure as error:
                failure = error.failure.code
            finally:
                mark.end(message.id)
            if failure is not None:
                log.error("message %d not mirrored into Slack: %s", message.id, failure)

        self._lanes.submit(channel, job, f"message {message.id}")

    # --- the root message -----------------------------------------------------------------

    def _schedule_root(self, conversation_id: int) -> None:
        """Update the root once the conversation's changes have settled for a moment."""
        if conversation_id in self._root_timers:
            return
        loop = asyncio.get_running_loop()
        self._root_timers[conversation_id] = loop.call_later(
            self._settings.root_update_delay, self._root_due, conversation_id
        )

    def _root_due(self, conversation_id: int) -> None:
        self._root_timers.pop(conversation_id, None)
        self._tasks.spawn(
            self._on_thread(conversation_id, self._writer.update_root), f"root-{conversation_id}"
        )

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.root_refresh_interval)
            self.refresh_positions()

    def refresh_positions(self) -> None:
        """Update the roots whose place in line moved since they were posted."""
        items, _ = self._deps.queue.queue(limit=1000)
        for item in items:
            shown = self._writer.shown.get(item.conversation.id, item.position)
            if shown != item.position:
                self._schedule_root(item.conversation.id)
