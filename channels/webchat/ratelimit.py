"""Per-visitor rate limiting of the messages sent from the widget, by token bucket."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from bridge.ports import Clock

#: Full buckets of offline visitors are swept once there are more buckets than this plus
#: twice the visitors online: a bound on memory, without a sweep on every disconnect.
_SWEEP_ABOVE = 1024


class _Bucket:
    """A token bucket: ``burst`` messages at once, refilled at ``rate`` per second."""

    __slots__ = ("at", "tokens")

    def __init__(self, burst: float, now: datetime) -> None:
        self.tokens = burst
        self.at = now

    def take(self, rate: float, burst: float, now: datetime) -> float:
        """Take one token; returns 0 on success, else the seconds until one is available."""
        elapsed = max(0.0, (now - self.at).total_seconds())
        self.tokens = min(burst, self.tokens + elapsed * rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate

    def full(self, rate: float, burst: float, now: datetime) -> bool:
        return self.tokens + max(0.0, (now - self.at).total_seconds()) * rate >= burst


class RateLimiter:
    """``per_minute`` messages per visitor, in bursts of up to 20; 0 turns limiting off.

    A bucket belongs to the visitor, not to a socket, so that opening more tabs or
    reconnecting is no way around the limit.
    """

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self._clock = clock
        self._rate = per_minute / 60.0
        self._burst = float(min(per_minute, 20))
        self._buckets: dict[str, _Bucket] = {}

    def take(self, visitor_id: str) -> float:
        """Take one message's token; returns 0 if allowed, else the seconds to wait."""
        if self._rate <= 0:
            return 0.0
        now = self._clock.now()
        bucket = self._buckets.get(visitor_id)
        if bucket is None:
            bucket = self._buckets[visitor_id] = _Bucket(self._burst, now)
        return bucket.take(self._rate, self._burst, now)

    def went_offline(self, visitor_id: str, online: Collection[str]) -> None:
        """Drop the visitor's bucket if it is full, and sweep other offline visitors' full
        buckets once there are many; ``online`` are the visitors with an open tab."""
        # A full bucket is the same as none; an emptied one stays, so that reconnecting is
        # no way around the rate limit.
        now = self._clock.now()
        bucket = self._buckets.get(visitor_id)
        if bucket is not None and bucket.full(self._rate, self._burst, now):
            del self._buckets[visitor_id]
        if len(self._buckets) > _SWEEP_ABOVE + 2 * len(online):
            for other_id, other in list(self._buckets.items()):
                if other_id not in online and other.full(self._rate, self._burst, now):
                    del self._buckets[other_id]
