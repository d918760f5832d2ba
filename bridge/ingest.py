"""The ingest pipeline: inbound message -> one transaction -> events.

Callers (adapters) await :meth:`Ingestor.ingest`; it returns only after the message is
committed, so whatever an adapter acknowledges to a platform or a visitor is already durable.

Writes are group-committed: one writer task takes every message that queued up while the
previous transaction ran and stores them together. Under load this turns hundreds of
transactions into one, which is what lets SQLite keep up (DESIGN.md: the ORM per message caps
near 430/s here; one Core transaction per batch does not). At low load a batch is one message
and nothing waits for a timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.errors import BridgeError
from bridge.events import (
    ConversationOpened,
    ConversationReopened,
    Event,
    MessageAdded,
    MessageEdited,
)
from bridge.inbound import InboundEdit, InboundMessage, IngestResult
from bridge.model import Message
from bridge.ports import (
    Clock,
    ComponentState,
    ConversationPolicy,
    CustomerEdits,
    EventBus,
    Health,
    IngestStore,
)
from bridge.tasks import TaskGroup

log = logging.getLogger(__name__)


class IngestStopped(BridgeError):
    """The pipeline is shutting down; the caller must not acknowledge the message."""


@dataclass(slots=True)
class _Pending:
    message: InboundMessage
    future: asyncio.Future[IngestResult]
    queued_at: float = 0.0  # loop time when handed in (for the latency metric)


#: Told of each committed message: its channel and the seconds from hand-in to commit.
IngestObserver = Callable[[str, float], None]


def events_for(result: IngestResult) -> list[Event]:
    if result.duplicate:
        return []
    events: list[Event] = []
    if result.opened:
        events.append(ConversationOpened(result.conversation))
    if result.reopened:
        events.append(ConversationReopened(result.conversation))
    events.append(
        MessageAdded(
            result.message,
            result.conversation,
            opened=result.opened,
            reopened=result.reopened,
            auto_reply_allowed=result.auto_reply_allowed,
            language_hint=result.language_hint,
        )
    )
    return events


class Ingestor:
    def __init__(
        self,
        store: IngestStore,
        bus: EventBus,
        policy: ConversationPolicy,
        clock: Clock,
        *,
        max_batch: int = 512,
        max_queue: int = 20_000,
        edits: CustomerEdits | None = None,
        observer: IngestObserver | None = None,
    ) -> None:
        self._observer = observer
        self._store = store
        self._edits = edits
        self._bus = bus
        self._policy = policy
        self._clock = clock
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_queue)
        self._tasks = TaskGroup("ingest")
        self._accepting = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.batches = 0
        self.committed = 0

    async def start(self) -> None:
        if self._accepting:
            return
        self._accepting = True
        self._tasks.spawn(self._writer(), "writer")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, then commit what was already handed in (under ``timeout``)."""
        self._accepting = False
        try:
            async with asyncio.timeout(timeout):
                while not self._queue.empty() or not self._idle.is_set():
                    await self._idle.wait()
                    await asyncio.sleep(0)
        except TimeoutError:
            log.warning("ingest stop timed out with %d messages queued", self._queue.qsize())
        await self._tasks.cancel_all()
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(IngestStopped("the bridge is shutting down"))

    def state(self) -> ComponentState:
        if not self._accepting:
            return ComponentState(Health.STOPPED)
        return ComponentState(Health.OK, f"{self._queue.qsize()} queued")

    async def ingest(self, message: InboundMessage) -> IngestResult:
        """Store one customer message; returns once it is committed."""
        if not self._accepting:
            raise IngestStopped("the bridge is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestResult] = loop.create_future()
        await self._queue.put(_Pending(message, future, loop.time()))
        return await future

    async def edit(self, edit: InboundEdit) -> Message | None:
        """Apply a customer's edit; None when the edited message is unknown.

        The message may still be queued here when its edit arrives right behind it, so an
        unknown id is looked up once more after the queue has been written.
        """
        if not self._accepting:
            raise IngestStopped("the bridge is shutting down")
        if self._edits is None:
            raise RuntimeError("this pipeline was built without an edit store")
        found = await self._edits.edit_by_external(
            edit.source, edit.external_id, edit.text, self._clock.now()
        )
        if found is None and (not self._queue.empty() or not self._idle.is_set()):
            await self._flushed()
            found = await self._edits.edit_by_external(
                edit.source, edit.external_id, edit.text, self._clock.now()
            )
        if found is None:
            log.info("edit of unknown message %s in %s ignored", edit.external_id, edit.source)
            return None
        message, conversation = found
        log.info("message %d edited by the customer", message.id)
        await self._bus.publish([MessageEdited(message, conversation)])
        return message

    async def _flushed(self) -> None:
        while not self._queue.empty() or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    async def _writer(self) -> None:
        while True:
            first = await self._queue.get()
            self._idle.clear()
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                # Stopped mid-transaction: whether it committed is unknown, so the callers
                # must not acknowledge; a resend is deduplicated on the external id.
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(IngestStopped("the bridge is shutting down"))
                raise
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _commit(self, batch: Sequence[_Pending]) -> None:
        try:
            results = await self._store.ingest_batch(
                [p.message for p in batch], self._policy, self._clock.now()
            )
        except Exception as error:
            if len(batch) == 1:
                fail(batch[0], error)
                return
            # One bad message must not fail its neighbours: store them one by one, so only
            # the culprit's caller sees the error.
            log.warning("ingest batch of %d failed; retrying one by one", len(batch))
            for pending in batch:
                await self._commit([pending])
            return
        self.batches += 1
        self.committed += len(batch)
        if self._observer is not None:
            done = asyncio.get_running_loop().time()
            for pending, result in zip(batch, results, strict=True):
                if not result.duplicate:
                    self._observer(pending.message.thread.channel, done - pending.queued_at)
        events = [event for result in results for event in events_for(result)]
        if events:
            try:
                await self._bus.publish(events)
            except Exception:
                # The messages are committed; a lost notification is repaired by the readers'
                # periodic refresh, so this must not fail the callers.
                log.exception("publishing %d ingest events failed", len(events))
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)


def fail(pending: _Pending, error: Exception) -> None:
    """Hand ``error`` to the one caller waiting on ``pending``."""
    if isinstance(error, BridgeError):
        log.info("ingest refused %s: %s", pending.message.external_id, type(error).__name__)
    else:
        log.error("ingest of %s failed", pending.message.external_id, exc_info=error)
    if not pending.future.done():
        pending.future.set_exception(error)
