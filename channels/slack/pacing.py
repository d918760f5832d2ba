"""Pacing of Web API calls: about one message per second per channel, 429s honoured.

Slack allows chat.postMessage about once per second per channel, with short bursts
(https://docs.slack.dev/apis/web-api/rate-limits#special-rate-limits), and answers more with
HTTP 429 and ``Retry-After``. Each key (a channel for posts, a method for the rest) has a
FIFO lock, so calls go out one at a time in the order they were asked for, which keeps a
thread's messages in order; the next post to a channel starts ``1/rate`` seconds after the
previous one *finished*, so network jitter never brings two inside one second. A 429 holds
the key until ``Retry-After`` has passed, for every caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class RateLimited(Exception):
    """Raised by a paced call to say Slack answered 429; the key is held for ``retry_after``."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass
class _Key:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0
    users: int = 0


class Pacer:
    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._keys: dict[str, _Key] = {}
        self.limited = 0  # 429s seen, for the log and the benchmark

    async def call(
        self,
        key: str,
        fn: Callable[[], Awaitable[T]],
        *,
        paced: bool,
        retry_limited: bool,
        is_limited: Callable[[BaseException], float | None],
    ) -> T:
        """Run ``fn`` when ``key`` is free. ``is_limited`` tells a 429 (its Retry-After) from
        other errors; with ``retry_limited`` the call waits and tries again, else it raises
        :class:`RateLimited` and the caller decides (the outbox retries later)."""
        loop = asyncio.get_running_loop()
        state = self._keys.setdefault(key, _Key())
        state.users += 1
        try:
            async with state.lock:
                while True:
                    wait = state.next_at - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    try:
                        result = await fn()
                    except Exception as error:
                        retry_after = is_limited(error)
                        if retry_after is None:
                            if paced:
                                state.next_at = loop.time() + self.interval
                            raise
                        self.limited += 1
                        state.next_at = loop.time() + max(retry_after, self.interval)
                        if not retry_limited:
                            raise RateLimited(retry_after) from error
                        continue
                    if paced:
                        state.next_at = loop.time() + self.interval
                    return result
        finally:
            state.users -= 1
            if state.users == 0 and state.next_at <= loop.time():
                self._keys.pop(key, None)

    def held_for(self, key: str) -> float:
        """Seconds until ``key`` may be used again (0 when free)."""
        state = self._keys.get(key)
        if state is None:
            return 0.0
        return max(0.0, state.next_at - asyncio.get_running_loop().time())
