"""The Redis event bus: live events shared by every bridge process.

Events go into one Redis Stream (``XADD``, capped with ``MAXLEN ~``). Each process reads the
stream with ``XREAD BLOCK`` and hands what other processes published to its own subscribers;
its own events reach its subscribers at once, without the round trip, so one process behaves
exactly like the in-process bus and only remote events pay for Redis.

A stream rather than pub/sub because a reader that lost its connection continues from the
last id it saw: a Redis restart or a network blip delays events, it does not drop them (up to
the stream's cap). Publishing never fails the caller: the database transaction that made the
event true has already committed, so events wait in a bounded buffer while Redis is away and
``/readyz`` says so.

Keys (all under ``prefix``): ``<prefix>:events`` the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import typing
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bridge.events import Event
from bridge.ports import ComponentState, Health
from bridge.tasks import TaskGroup
from storage.bus import InProcessBus, MemorySubscription
from storage.event_codec import decode, encode

log = logging.getLogger(__name__)

STREAM_CAP = 100_000  # events kept for readers catching up after an outage
# Short enough that stop() can let the reader finish its read instead of cancelling it (a
# cancelled blocking XREAD can leave redis-py's connection hanging).
READ_BLOCK_MS = 250
READ_COUNT = 500
SEND_BATCH = 500
BUFFER_CAP = 50_000  # events held for Redis while it is away; beyond this the oldest go
RETRY_MAX = 5.0

Entry = tuple[bytes, dict[bytes, bytes]]


class RedisBus:
    def __init__(self, url: str, *, prefix: str = "bridge", queue_size: int = 10_000) -> None:
        self._url = url
        self._stream = f"{prefix}:events"
        self._local = InProcessBus(queue_size)
        self._origin = secrets.token_hex(8)  # tells this process's own events apart
        self._outgoing: list[bytes] = []
        self._have_outgoing = asyncio.Event()
        self._tasks = TaskGroup("redis-bus")
        self._redis: Redis | None = None
        self._last_id: str | None = None
        self._problem: str | None = None
        self.dropped = 0
        self.received = 0
        self._stopping = False
        self._reader_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._redis = Redis.from_url(self._url, socket_timeout=READ_BLOCK_MS / 1000 + 5)
        try:
            await self._find_end()
        except (RedisError, OSError) as error:
            self._trouble(error)  # the reader keeps trying; events wait meanwhile
        self._stopping = False
        self._reader_task = self._tasks.spawn(self._reader(), "reader")
        self._tasks.spawn(self._sender(), "sender")

    async def _find_end(self) -> None:
        """Read from the stream's current end: what came before this process is history,
        and the store has it."""
        assert self._redis is not None
        try:
            info = await self._redis.xinfo_stream(self._stream)
        except RedisError as error:
            if "no such key" not in str(error).lower():
                raise
            self._last_id = "0-0"  # no stream yet: everything that arrives is new
        else:
            self._last_id = _text(info["last-generated-id"])
        self._recovered()

    async def stop(self) -> None:
        if self._outgoing and self._redis is not None:
            unsent = len(self._outgoing)
            try:
                async with asyncio.timeout(2):
                    while self._outgoing:
                        await self._send(self._take())
                        unsent = len(self._outgoing)
            except (TimeoutError, RedisError, OSError):
                # Hints only (the store has what they announce), but say how many.
                log.warning("%d events not shared with other processes at stop", unsent)
        self._stopping = True
        if self._reader_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader_task), READ_BLOCK_MS / 1000 + 2)
        await self._tasks.cancel_all()
        await self._local.stop()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        await self._local.publish(events)
        for event in events:
            self._outgoing.append(encode(event))
        if len(self._outgoing) > BUFFER_CAP:
            excess = len(self._outgoing) - BUFFER_CAP
            del self._outgoing[:excess]
            self.dropped += excess
        self._have_outgoing.set()

    def subscribe(self, kinds: frozenset[str] | None = None) -> MemorySubscription:
        return self._local.subscribe(kinds)

    def state(self) -> ComponentState:
        if self._problem is not None:
            return ComponentState(
                Health.DEGRADED,
                f"Redis: {self._problem}; {len(self._outgoing)} events waiting to be shared",
            )
        return ComponentState(Health.OK, f"redis, {len(self._outgoing)} events waiting")

    # --- internals ----------------------------------------------------------------------

    def _take(self) -> list[bytes]:
        batch, self._outgoing = self._outgoing[:SEND_BATCH], self._outgoing[SEND_BATCH:]
        if not self._outgoing:
            self._have_outgoing.clear()
        return batch

    async def _send(self, batch: list[bytes]) -> None:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            for raw in batch:
                pipe.xadd(
                    self._stream,
                    {"o": self._origin, "e": raw},
                    maxlen=STREAM_CAP,
                    approximate=True,
                )
            await pipe.execute()

    async def _sender(self) -> None:
        delay = 0.1
        while True:
            await self._have_outgoing.wait()
            batch = self._take()
            try:
                await self._send(batch)
            except (RedisError, OSError) as error:
                self._outgoing[:0] = batch  # keep them, in order, for the next try
                self._have_outgoing.set()
                self._trouble(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            else:
                delay = 0.1
                self._recovered()

    async def _reader(self) -> None:
        delay = 0.1
        while not self._stopping:
            assert self._redis is not None
            try:
                if self._last_id is None:
                    await self._find_end()
                    assert self._last_id is not None
                found = await self._redis.xread(
                    {self._stream: self._last_id}, count=READ_COUNT, block=READ_BLOCK_MS
                )
            except (RedisError, OSError) as error:
                self._trouble(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = 0.1
            self._recovered()
            for _stream, entries in typing.cast(list[tuple[bytes, list[Entry]]], found):
                remote = []
                for entry_id, fields in entries:
                    self._last_id = _text(entry_id)
                    if _text(fields.get(b"o", b"")) == self._origin:
                        continue
                    try:
                        remote.append(decode(fields[b"e"]))
                    except (ValueError, KeyError, TypeError) as error:
                        log.warning("an event on the bus could not be read: %s", error)
                self.received += len(remote)
                await self._local.publish(remote)

    def _trouble(self, error: BaseException) -> None:
        if self._problem is None:
            log.warning("Redis bus: %s; retrying, events are kept meanwhile", error)
        self._problem = f"{type(error).__name__}: {error}"

    def _recovered(self) -> None:
        if self._problem is not None:
            log.info("Redis bus is back")
            self._problem = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
