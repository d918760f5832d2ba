"""The in-process event bus: the embedded default, and the twin the Redis bus must match.

Each subscription has its own bounded queue so one slow reader (a stalled SSE client) never
holds up the others; when its queue is full the oldest events are dropped for that reader
only and it is told so by a gap count, because readers treat events as hints and re-read the
store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

from bridge.events import Event
from bridge.ports import ComponentState, Health

log = logging.getLogger(__name__)

_CLOSED = object()


class MemorySubscription:
    def __init__(self, bus: InProcessBus, kinds: frozenset[str] | None, size: int) -> None:
        self._bus = bus
        self.kinds = kinds
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=size)
        self.dropped = 0
        self._closed = False

    def offer(self, event: Event) -> None:
        if self.kinds is not None and event.kind not in self.kinds:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while not self._closed:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, Event)
            yield item

    def backlog(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus.remove(self)
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)


class InProcessBus:
    def __init__(self, queue_size: int = 10_000) -> None:
        self._subscriptions: list[MemorySubscription] = []
        self._queue_size = queue_size

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            for subscription in list(self._subscriptions):
                subscription.offer(event)

    def subscribe(self, kinds: frozenset[str] | None = None) -> MemorySubscription:
        subscription = MemorySubscription(self, kinds, self._queue_size)
        self._subscriptions.append(subscription)
        return subscription

    def remove(self, subscription: MemorySubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def state(self) -> ComponentState:
        return ComponentState(Health.OK, f"in-process, {len(self._subscriptions)} subscribers")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
