"""The fake Bot API for the Telegram benches, on its own thread and event loop.

``bench.common.bridge_server`` waits for the bridge synchronously, and the bridge only gets
ready once the fake has answered ``getMe``; a fake on the bench's own loop would be stuck
behind that wait. On its own loop it also times the bridge's calls without being held up by
the bench's load generator (beyond the GIL).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from tests.telegram.fake_bot_api import FakeBotApi

T = TypeVar("T")


class ThreadedFake:
    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.fake: FakeBotApi | None = None

    def __enter__(self) -> FakeBotApi:
        self._thread.start()
        self.fake = self.call(self._make)
        return self.fake

    def __exit__(self, *_exc: object) -> None:
        assert self.fake is not None
        fake = self.fake
        asyncio.run_coroutine_threadsafe(fake.close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _make(self) -> FakeBotApi:
        fake = FakeBotApi(**self._options)
        await fake.start()
        return fake

    def call(self, make: Callable[[], Any]) -> Any:
        """Run ``make()`` (a coroutine function) on the fake's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=60)

    def do(self, action: Callable[[], T]) -> T:
        """Run a plain function on the fake's loop (it is not thread-safe) and wait for it."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(action())
            except BaseException as error:
                done.set_exception(error)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=60)

    async def run(self, action: Callable[[], T]) -> T:
        """Like :meth:`do`, awaited from another loop instead of blocking it."""

        async def act() -> T:
            return action()

        future = asyncio.run_coroutine_threadsafe(act(), self._loop)
        return await asyncio.wrap_future(future)

    async def wait_for(self, condition: Callable[[], bool], timeout: float) -> None:
        """Await, from another loop, until ``condition()`` holds on the fake's loop."""
        assert self.fake is not None
        fake = self.fake
        future = asyncio.run_coroutine_threadsafe(fake.wait_for(condition, timeout), self._loop)
        await asyncio.wrap_future(future)
