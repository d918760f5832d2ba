"""Pacing sends to Telegram's flood limits, so that 429s stay rare instead of routine.

Telegram allows a bot about 30 messages per second overall, about one per second in a chat,
and 20 per minute in a group (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-
how-do-i-avoid-this), counted in sliding windows where the requests arrive. Two rules here:

* Sends are scheduled evenly: each waits for its chat's next free moment, then takes the
  bot's next free slot, ``1 / rate`` after the one before. Slots are reserved, not polled:
  concurrent senders go in the order they arrived, and a cancelled sender only leaves a gap.
  (A token bucket would let a burst of 30 through after a quiet second and trip the window.)
* Where a request lands in Telegram's window is not known here: somewhere between the moment
  it was let go and the moment Telegram answered. So each send counts against the bot's
  window from the first moment until a full window after the second, and a chat's next send
  waits for its interval after the previous one was answered. However late a busy event loop
  writes a request, Telegram can then never count more than the limit. Between two sends of
  a chat this costs a round trip; for the bot, a round trip per window.

The dispatcher sends one message per conversation at a time and up to 128 at once, so the
longest wait is about 128 slots (a few seconds), well within its 60-second lease.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from channels.telegram.convert import is_group_chat

#: Past this many chats, those with nothing pending are forgotten.
PRUNE_AT = 10_000
#: The length of Telegram's counting window for the bot, in seconds.
WINDOW = 1.0


class Pacer:
    def __init__(
        self,
        per_second: float,
        chat_interval: float,
        group_interval: float,
        *,
        time: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._spacing = 1.0 / per_second
        self._limit = max(1, math.floor(per_second * WINDOW))
        self._chat_interval = chat_interval
        self._group_interval = group_interval
        self._time = time or (lambda: asyncio.get_running_loop().time())
        self._sleep = sleep
        self._next = 0.0  # the bot's next free slot
        self._in_flight = 0
        self._answered: deque[float] = deque()  # when the sends of the last window were answered
        self._chats: dict[int, float] = {}  # a chat's next moment to reserve
        self._chat_free: dict[int, float] = {}  # its last answer plus its interval
        self._chat_in_flight: dict[int, int] = {}

    @asynccontextmanager
    async def slot(self, chat_id: int) -> AsyncIterator[float]:
        """Hold a send to ``chat_id`` until it may go, and count it until it was answered;
        yields the seconds waited."""
        waited = await self._acquire(chat_id)
        try:
            yield waited
        finally:
            self._release(chat_id)

    def hold(self, chat_id: int, seconds: float) -> None:
        """Telegram answered 429 for this chat: nothing more to it for ``seconds``."""
        until = self._time() + seconds
        self._chats[chat_id] = max(self._chats.get(chat_id, 0.0), until)
        self._chat_free[chat_id] = max(self._chat_free.get(chat_id, 0.0), until)

    def _interval(self, chat_id: int) -> float:
        return self._group_interval if is_group_chat(chat_id) else self._chat_interval

    async def _acquire(self, chat_id: int) -> float:
        start = self._time()
        interval = self._interval(chat_id)
        chat_at = max(start, self._chats.get(chat_id, 0.0))
        self._chats[chat_id] = chat_at + interval
        if len(self._chats) > PRUNE_AT:
            self._prune(start)
        if chat_at > start:
            await self._sleep(chat_at - start)
        now = self._time()
        slot = max(now, self._next)
        self._next = slot + self._spacing
        if slot > now:
            await self._sleep(slot - now)
        while (hold := self._hold(chat_id)) > 0:
            await self._sleep(hold)
        self._in_flight += 1
        self._chat_in_flight[chat_id] = self._chat_in_flight.get(chat_id, 0) + 1
        return self._time() - start

    def _hold(self, chat_id: int) -> float:
        """How much longer a send must wait for the sends that went before it."""
        now = self._time()
        answered = self._answered
        while answered and answered[0] <= now - WINDOW:
            answered.popleft()
        hold = 0.0
        if self._in_flight + len(answered) >= self._limit:
            # All counted sends still unanswered: look again a slot later.
            hold = answered[0] + WINDOW - now if answered else self._spacing
        if self._chat_in_flight.get(chat_id):
            hold = max(hold, self._spacing)
        return max(hold, self._chat_free.get(chat_id, 0.0) - now)

    def _release(self, chat_id: int) -> None:
        now = self._time()
        self._in_flight -= 1
        self._answered.append(now)
        left = self._chat_in_flight.get(chat_id, 1) - 1
        if left:
            self._chat_in_flight[chat_id] = left
        else:
            self._chat_in_flight.pop(chat_id, None)
        # The chat's next send counts its interval from this answer.
        free = now + self._interval(chat_id)
        self._chat_free[chat_id] = max(self._chat_free.get(chat_id, 0.0), free)
        self._chats[chat_id] = max(self._chats.get(chat_id, 0.0), free)

    def _prune(self, now: float) -> None:
        for chat_id in [c for c, at in self._chats.items() if at <= now]:
            if chat_id not in self._chat_in_flight:
                del self._chats[chat_id]
                self._chat_free.pop(chat_id, None)
