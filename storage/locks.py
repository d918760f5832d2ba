"""Singleton loops: work that must run in exactly one process (Telegram long polling, IMAP
IDLE), with failover.

:class:`RedisSingletons` holds a lease in Redis (``SET key owner NX PX ttl``), renews it every
third of its time with a compare-and-extend script, and cancels the work the moment a renewal
fails, before the lease can run out and another process take over, so two holders never run at
once. A process that does not hold the lease tries again every ``retry`` seconds; after the
holder dies, another takes over within ``ttl + retry`` seconds (6 + 1 by default, under the 10 s
the design asks for).

:class:`LocalSingletons` is the embedded default: one process, so the work simply runs.

While Redis cannot be reached no process can be sure of its lease, so every holder stops its
work and ``/readyz`` shows ``locks`` degraded; once Redis answers again one process takes each
lease back (an empty Redis after a restart holds none).

Keys: ``<prefix>:lock:<name>`` holding the owner's random id, expiring after ``ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bridge.ports import ComponentState, Health

log = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, None]]

# Extend or delete the lease only while it is still ours.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LocalSingletons:
    async def run(self, name: str, work: Work) -> None:
        del name
        await work()

    def holding(self) -> frozenset[str]:
        return frozenset()


class RedisSingletons:
    def __init__(
        self, url: str, *, prefix: str = "bridge", ttl: float = 6.0, retry: float = 1.0
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._ttl_ms = int(ttl * 1000)
        self._retry = retry
        self._owner = secrets.token_hex(12)
        self._redis: Redis | None = None
        self._held: set[str] = set()
        #: Loops this process runs or stands by for (:meth:`run` under way).
        self._wanted: set[str] = set()
        #: The last Redis failure, until a later call succeeds.
        self._problem: str | None = None

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self._url, socket_timeout=self._ttl_ms / 3000)
        return self._redis

    def holding(self) -> frozenset[str]:
        """Names of the loops this process runs now (for /readyz)."""
        return frozenset(self._held)

    def state(self) -> ComponentState:
        """For /readyz: degraded while Redis is unreachable, when no process can be sure to
        hold a lease, so the loops it guards (Telegram polling, IMAP IDLE) are paused."""
        held = ", ".join(sorted(self._held)) or "none"
        if self._problem is not None:
            waiting = ", ".join(sorted(self._wanted - self._held)) or "none"
            return ComponentState(
                Health.DEGRADED,
                f"Redis: {self._problem}; loops paused until it is back: {waiting}",
            )
        return ComponentState(Health.OK, f"redis leases, running here: {held}")

    def _failed(self, error: BaseException) -> None:
        self._problem = f"{type(error).__name__}: {error}"

    def _reached(self) -> None:
        if self._problem is not None:
            log.info("lock leases: Redis is back")
            self._problem = None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def run(self, name: str, work: Work) -> None:
        """Run ``work`` whenever this process holds ``name``; forever, until cancelled.

        ``work`` is restarted after it returns or fails, like any supervised loop.
        """
        key = f"{self._prefix}:lock:{name}"
        self._wanted.add(name)
        try:
            await self._run(key, name, work)
        finally:
            self._wanted.discard(name)

    async def _run(self, key: str, name: str, work: Work) -> None:
        while True:
            try:
                acquired = await self._client().set(key, self._owner, nx=True, px=self._ttl_ms)
            except (RedisError, OSError) as error:
                if self._problem is None:
                    log.warning("lock %s: Redis unreachable (%s); retrying", name, error)
                self._failed(error)
                acquired = False
            else:
                self._reached()
            if not acquired:
                await asyncio.sleep(self._retry)
                continue
            log.info("this process now runs %s", name)
            self._held.add(name)
            try:
                await self._hold(key, name, work)
            finally:
                self._held.discard(name)
                with contextlib.suppress(RedisError, OSError):
                    await self._client().eval(_RELEASE, 1, key, self._owner)
            await asyncio.sleep(self._retry)  # a failing loop does not spin

    async def _hold(self, key: str, name: str, work: Work) -> None:
        task = asyncio.create_task(work(), name=f"singleton:{name}")
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=self._ttl_ms / 3000)
                if done:
                    break
                try:
                    kept = await self._client().eval(
                        _EXTEND, 1, key, self._owner, str(self._ttl_ms)
                    )
                except (RedisError, OSError) as error:
                    log.warning("lock %s: cannot renew (%s); stopping the work", name, error)
                    self._failed(error)
                    return
                self._reached()
                if not kept:
                    log.warning("lock %s was lost; stopping the work", name)
                    return
            if task.exception() is not None:
                log.error("%s failed: %s; it restarts", name, task.exception())
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
