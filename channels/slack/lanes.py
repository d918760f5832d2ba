"""Ordered work per key: one lane per Slack channel, lanes side by side.

Work for one channel (posting into its threads, reacting, updating roots; or handling the
events Slack sent about it) must happen in the order it was asked for, or a thread shows an
answer above its question and an edit lands before the message it edits. Different channels
are independent, so one slow or rate-limited channel never holds up another.

A lane is a task that exists while its queue is not empty; every task belongs to the
:class:`bridge.tasks.TaskGroup`, which cancels them on stop. A failing job is logged (by type:
errors may quote message text) and the lane goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from bridge.tasks import TaskGroup
from channels.slack.errors import log_failure

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Lanes:
    def __init__(self, name: str) -> None:
        self._name = name
        self._queues: dict[str, deque[tuple[str, Job]]] = {}
        self._tasks = TaskGroup(name)
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    def submit(self, key: str, job: Job, what: str = "job") -> None:
        if self._closed:
            return
        queue = self._queues.get(key)
        if queue is None:
            queue = deque()
            self._queues[key] = queue
            self._tasks.spawn(self._run(key, queue), f"lane-{key}")
        queue.append((what, job))
        self._idle.clear()

    async def _run(self, key: str, queue: deque[tuple[str, Job]]) -> None:
        try:
            while queue:
                what, job = queue[0]
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log_failure(log, error, f"{self._name}: {what} in lane {key} failed")
                queue.popleft()
        finally:
            if self._queues.get(key) is queue and not queue:
                del self._queues[key]
            if not self._queues:
                self._idle.set()

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until every lane is empty; False when ``timeout`` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self._closed = True
        await self._tasks.cancel_all()
        self._queues.clear()
        self._idle.set()
