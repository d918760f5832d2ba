"""``/readyz``: each part's state, and the replies waiting on each channel.

A channel adapter knows its own connection (a Telegram poll failing, a Slack token refused),
but not always that its sends fail: SMTP is only reached when a reply goes out, and a
platform can refuse sends while everything else works. The outbox knows, and it knows
across processes (it is the store), so a channel with replies held up by failures is shown
``degraded`` with how many wait and why, even when its adapter says ``ok``; deliveries to a
channel that runs nowhere in this process show on the ``outbox`` line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, timedelta

from bridge.ports import (
    ChannelAdapter,
    Clock,
    ComponentState,
    DeliveryStatusStore,
    Health,
    WaitingDestination,
)

log = logging.getLogger(__name__)

#: Each probe (the database ping, the waiting query) gives up after this long.
PROBE_TIMEOUT = 2.0

Probe = Callable[[], Awaitable[None]]
StateOf = Callable[[], ComponentState]


class Readiness:
    def __init__(
        self,
        *,
        ping: Probe,
        dialect: str,
        parts: Mapping[str, StateOf],
        adapters: Mapping[str, ChannelAdapter],
        channel_errors: Mapping[str, str],
        deliveries: DeliveryStatusStore,
        clock: Clock,
        overdue_after: timedelta,
    ) -> None:
        self._ping = ping
        self._dialect = dialect
        self._parts = parts
        self._adapters = adapters
        self._channel_errors = channel_errors
        self._deliveries = deliveries
        self._clock = clock
        self._overdue_after = overdue_after

    async def __call__(self) -> dict[str, ComponentState]:
        states: dict[str, ComponentState] = {}
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self._ping()
            states["storage"] = ComponentState(Health.OK, self._dialect)
        except Exception as error:
            states["storage"] = ComponentState(Health.DOWN, f"{type(error).__name__}: {error}")
        waiting = await self._waiting() if states["storage"].ready else {}
        for name, state_of in self._parts.items():
            states[name] = state_of()
        for name, adapter in self._adapters.items():
            if name in self._channel_errors:
                state = ComponentState(Health.DOWN, self._channel_errors[name])
            else:
                state = adapter.state()
            states[f"channel:{name}"] = with_waiting(state, waiting.pop(name, None))
        if waiting and "outbox" in states:
            # Deliveries to channels this process does not run (switched off, or misnamed).
            for destination in waiting.values():
                states["outbox"] = with_waiting(states["outbox"], destination, named=True)
        return states

    async def _waiting(self) -> dict[str, WaitingDestination]:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                found = await self._deliveries.waiting(
                    self._clock.now(), overdue_after=self._overdue_after, limit=0
                )
        except Exception as error:
            # The storage line already says when the store is down; this is only detail.
            log.warning("readiness: waiting deliveries unknown: %s", type(error).__name__)
            return {}
        return {d.source: d for d in found.destinations}


def waiting_detail(destination: WaitingDestination, *, named: bool = False) -> str:
    count = destination.count
    what = f"{count} {'reply' if count == 1 else 'replies'} waiting"
    if named:
        what += f" for {destination.source}"
    if destination.reason is None:
        return f"{what}: not sent yet"
    detail = f"{what}: {' '.join(destination.reason.split())[:200]}"
    if destination.next_attempt_at is not None:
        at = destination.next_attempt_at.astimezone(UTC).strftime("%H:%M:%S UTC")
        detail += f"; next try {at}"
    return detail


def with_waiting(
    state: ComponentState, destination: WaitingDestination | None, *, named: bool = False
) -> ComponentState:
    """``state``, degraded (if it was ok) and told why, when replies wait on it."""
    if destination is None or not destination.count:
        return state
    detail = waiting_detail(destination, named=named)
    if state.health is Health.OK:
        return ComponentState(Health.DEGRADED, detail)
    return ComponentState(state.health, f"{state.detail}; {detail}" if state.detail else detail)
