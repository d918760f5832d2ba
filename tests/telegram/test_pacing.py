"""The pacer keeps sends within Telegram's limits, on a virtual clock (no real waiting).

Each simulated request takes some time; Telegram "receives" it at a random moment between
being let go and being answered, as with real network and event-loop delays. The checks are
made where Telegram counts: on those arrival times.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
from collections.abc import Callable, Coroutine
from typing import Any

from channels.telegram.pacing import Pacer


class VirtualTime:
    """Time that moves only when every task waits: the earliest wake-up comes first."""

    def __init__(self, lateness: Callable[[], float] = lambda: 0.0) -> None:
        self.lateness = lateness  # how late each sleeper wakes (a busy event loop)
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = 0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._order += 1
        self._sleepers.append((self.now + seconds + self.lateness(), self._order, future))
        await future

    async def run(self, *coroutines: Coroutine[Any, Any, object]) -> None:
        """Run ``coroutines`` to the end; whenever all of them wait, wake the earliest."""
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            for _ in range(3):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._sleepers:
                self._sleepers.sort(key=lambda s: (s[0], s[1]))
                at, _, future = self._sleepers.pop(0)
                self.now = max(self.now, at)
                future.set_result(None)
        for task in tasks:
            task.result()


class Telegram:
    """Where the requests land: a random moment between being let go and being answered."""

    def __init__(self, clock: VirtualTime, latency: Callable[[], float]) -> None:
        self.clock = clock
        self.latency = latency
        self.chaos = random.Random(11)
        self.arrivals: list[tuple[float, int]] = []
        self.let_go: list[tuple[float, int]] = []

    async def send(self, pacer: Pacer, chat: int) -> None:
        async with pacer.slot(chat):
            start = self.clock.now
            self.let_go.append((start, chat))
            took = self.latency()
            await self.clock.sleep(took)
            self.arrivals.append((start + self.chaos.uniform(0, took), chat))

    def most_in_a_second(self, chat: int | None = None) -> int:
        times = sorted(t for t, c in self.arrivals if chat is None or c == chat)
        return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def pacer(clock: VirtualTime, per_second: float = 30.0) -> Pacer:
    return Pacer(per_second, 1.0, 3.0, time=clock.time, sleep=clock.sleep)


async def test_sends_to_different_chats_are_spaced_at_the_bot_rate() -> None:
    clock = VirtualTime()
    telegram = Telegram(clock, lambda: 0.005)
    limiter = pacer(clock)
    await clock.run(*(telegram.send(limiter, chat) for chat in range(1, 91)))
    times = [t for t, _ in telegram.let_go]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / 30 - 1e-9
    assert telegram.most_in_a_second() <= 30
    assert times[-1] < 3.2  # 90 sends in about three seconds


async def test_one_chat_gets_one_message_a_second_and_a_group_one_in_three() -> None:
    clock = VirtualTime()
    telegram = Telegram(clock, lambda: 0.02)
    limiter = pacer(clock)
    await clock.run(
        *(telegram.send(limiter, 7) for _ in range(4)),
        *(telegram.send(limiter, -100) for _ in range(3)),
    )
    private = sorted(t for t, c in telegram.arrivals if c == 7)
    group = sorted(t for t, c in telegram.arrivals if c == -100)
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(private))
    assert all(b - a >= 3.0 for a, b in itertools.pairwise(group))
    assert private[-1] < 3.2  # the others' slots do not hold the chat back


async def test_a_busy_chat_does_not_hold_up_the_others() -> None:
    clock = VirtualTime()
    telegram = Telegram(clock, lambda: 0.01)
    limiter = pacer(clock)
    await clock.run(*(telegram.send(limiter, chat) for chat in (1, 1, 1, 2, 3)))
    assert [c for _, c in telegram.let_go][:3] == [1, 2, 3]
    assert clock.now >= 2.0  # the third message to chat 1 two seconds after its first


async def test_a_429_holds_the_chat_for_retry_after() -> None:
    clock = VirtualTime()
    telegram = Telegram(clock, lambda: 0.0)
    limiter = pacer(clock)
    await clock.run(telegram.send(limiter, 5))
    limiter.hold(5, 10.0)
    start = clock.now
    await clock.run(telegram.send(limiter, 5))
    assert clock.now - start >= 10.0
    before = clock.now
    await clock.run(telegram.send(limiter, 6))  # other chats are not held
    assert clock.now - before < 0.1


async def test_after_a_quiet_spell_there_is_no_burst() -> None:
    clock = VirtualTime()
    telegram = Telegram(clock, lambda: 0.0)
    limiter = pacer(clock, per_second=10)
    await clock.run(telegram.send(limiter, 1))
    clock.now += 100.0
    await clock.run(*(telegram.send(limiter, chat) for chat in range(2, 12)))
    times = [t for t, _ in telegram.let_go[1:]]
    assert times[0] == 100.0
    assert abs(times[-1] - 100.9) < 1e-6


async def test_late_wake_ups_and_slow_requests_never_pass_the_limits() -> None:
    """A busy loop wakes sleepers up to 30 ms late and requests take 1 to 80 ms: wherever
    they land, no second holds more than 30, and no chat gets two in a second; and the rate
    stays close to the limit."""
    chaos = random.Random(7)
    clock = VirtualTime(lateness=lambda: chaos.uniform(0, 0.03))
    telegram = Telegram(clock, lambda: chaos.uniform(0.001, 0.08))
    limiter = pacer(clock)

    async def customer(chat: int) -> None:
        for _ in range(3):
            await telegram.send(limiter, chat)

    await clock.run(*(customer(chat) for chat in range(1, 101)))
    assert len(telegram.arrivals) == 300
    assert telegram.most_in_a_second() <= 30
    assert all(telegram.most_in_a_second(chat) == 1 for chat in range(1, 101))
    assert 300 / clock.now > 27  # the price of not knowing when Telegram counts: ~one trip
