"""Queue alerts for the supervisors' channel, with hysteresis.

Every ``alert_interval`` seconds the queue's length and oldest wait are compared with the
thresholds. Passing either posts one alert; the all-clear follows once *both* are below
``alert_recovery_ratio`` of their thresholds, so a queue hovering at the threshold does not
post an alert and an all-clear every check.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from bridge.ports import QueueService
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.blocks import alert_text, recovery_text
from channels.slack.errors import log_failure

log = logging.getLogger(__name__)


@dataclass
class AlertState:
    max_length: int  # 0: no threshold
    max_wait: float  # seconds; 0: no threshold
    recovery_ratio: float
    alerting: bool = False

    def check(self, length: int, oldest: float | None) -> Literal["alert", "recovered"] | None:
        """What to post after this check, if anything."""
        wait = oldest or 0.0
        over = (self.max_length > 0 and length >= self.max_length) or (
            self.max_wait > 0 and wait >= self.max_wait
        )
        if not self.alerting:
            if over:
                self.alerting = True
                return "alert"
            return None
        calm = (self.max_length == 0 or length < self.max_length * self.recovery_ratio) and (
            self.max_wait == 0 or wait < self.max_wait * self.recovery_ratio
        )
        if calm:
            self.alerting = False
            return "recovered"
        return None


class Alerts:
    def __init__(
        self,
        api: SlackApi,
        queue: QueueService,
        channel: str,
        state: AlertState,
        interval: float,
    ) -> None:
        self._api = api
        self._queue = queue
        self._channel = channel
        self._state = state
        self._interval = interval

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as error:
                log_failure(log, error, "queue alert check failed")
            await asyncio.sleep(self._interval)

    async def check(self) -> None:
        items, length = self._queue.queue(limit=1000)
        oldest = max((i.waiting_seconds for i in items), default=None)
        outcome = self._state.check(length, oldest)
        if outcome is None:
            return
        if outcome == "alert":
            text = alert_text(
                length, oldest, max_length=self._state.max_length, max_wait=self._state.max_wait
            )
        else:
            text = recovery_text(length, oldest)
        log.info("queue %s: %d waiting", outcome, length)
        try:
            await self._api.post(self._channel, text)
        except SlackFailure as error:
            # Tried again at the next check, instead of being forgotten.
            self._state.alerting = outcome != "alert"
            log.warning("posting the queue %s failed: %s", outcome, error.failure.code)
