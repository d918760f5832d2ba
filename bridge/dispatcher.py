"""The outbox dispatcher: sends pending deliveries through the customer's channel adapter.

* Order: the store hands out at most one delivery per conversation (its oldest pending one),
  so a conversation's messages reach the customer in the order agents wrote them, while
  different conversations go out concurrently.
* Retries: transient errors are retried in place with tenacity (exponential backoff with
  jitter, never sooner than the platform's ``retry_after``); when those attempts run out the
  row is given back with a later ``next_attempt_at``, so a long outage blocks no process and
  survives restarts. After ``max_attempts`` the row is ``dead``. A permanent error marks it
  ``failed`` at once. Both raise a :class:`DeliveryFailed` event so agents see it.
* Crashes: a claim is a lease; a row whose dispatcher died is claimed again once the lease
  runs out, and adapters receive the delivery's idempotency key so a platform that supports
  one (and every fake in the tests) drops the repeat.
* Shutdown drains what is due under a timeout, then gives unfinished claims back.

Outcomes are written in batches: under load one transaction records many sends.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.wait import wait_base, wait_exponential, wait_random

from bridge.errors import (
    InternalMessageRefused,
    PermanentChannelError,
    StorageUnavailable,
    TransientChannelError,
)
from bridge.events import DeliveryFailed, DeliveryRetrying, DeliverySent, Event
from bridge.gate import public_view
from bridge.model import DeliveryState
from bridge.outbound import OutboundMessage
from bridge.ports import (
    ChannelAdapter,
    Claimed,
    Clock,
    ComponentState,
    EventBus,
    Health,
    OutboxStore,
    SendOutcome,
    Subscription,
)
from bridge.tasks import TaskGroup

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float = 1.0  # seconds before the second attempt
    maximum: float = 600.0  # the longest wait between two attempts
    in_process_attempts: int = 3  # attempts within one claim, before giving the row back
    max_attempts: int = 15  # then the delivery is dead
    lease: timedelta = timedelta(seconds=60)
    #: How long to wait before looking again when no adapter runs for the destination (the
    #: channel is off or still starting); these waits do not count as attempts.
    no_adapter_delay: float = 30.0

    def backoff(self, attempts: int) -> float:
        """The wait after ``attempts`` failed attempts, with full jitter on the upper half."""
        ceiling = min(self.maximum, self.initial * 2.0 ** max(0, attempts - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


class wait_retry_after(wait_base):  # noqa: N801 - named like tenacity's own wait strategies
    """Exponential backoff, but never sooner than the platform's ``retry_after``."""

    def __init__(self, fallback: wait_base) -> None:
        self._fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self._fallback(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(error, TransientChannelError) and error.retry_after is not None:
            return max(wait, float(error.retry_after))
        return wait


#: Told of each outcome: channel, state ("sent", "retry", "failed", "dead"), the error if any,
#: and the seconds since the delivery was queued.
DeliveryObserver = Callable[[str, str, str | None, float], None]


class Dispatcher:
    def __init__(
        self,
        outbox: OutboxStore,
        adapters: Mapping[str, ChannelAdapter],
        bus: EventBus,
        clock: Clock,
        *,
        owner: str,
        retry: RetryPolicy | None = None,
        concurrency: int = 128,
        poll_interval: float = 1.0,
        observer: DeliveryObserver | None = None,
    ) -> None:
        self._observer = observer
        #: Channels with deliveries backing off after transient errors.
        self._troubled: set[str] = set()
        self._outbox = outbox
        self._adapters = adapters
        self._bus = bus
        self._clock = clock
        self._owner = owner
        self._retry = retry or RetryPolicy()
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._tasks = TaskGroup("dispatcher")
        self._sends = TaskGroup("dispatcher-send")
        self._in_flight: set[int] = set()
        self._outcomes: list[tuple[Claimed, SendOutcome]] = []
        self._outcome_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._running = False
        self._claiming = False
        self._store_down = False
        self.sent = 0
        self.failed = 0
        self.retried = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._claiming = True
        subscription = self._bus.subscribe(frozenset({"delivery.queued"}))
        self._tasks.spawn(self._listen(subscription), "listen")
        self._tasks.spawn(self._claim_loop(), "claim")
        self._tasks.spawn(self._record_loop(), "record")

    async def stop(self, timeout: float = 10.0) -> None:
        """Send what is due (for up to ``timeout`` seconds), then give the rest back."""
        if not self._running:
            return
        try:
            async with asyncio.timeout(timeout):
                while self._in_flight or await self._outbox.pending_count(
                    self._clock.now(), self._owner
                ):
                    self.wake()
                    await asyncio.sleep(0.01)
        except TimeoutError:
            log.warning("outbox drain timed out with %d sends in flight", len(self._in_flight))
        self._claiming = False
        await self._sends.cancel_all()
        await self._tasks.cancel_all()
        await self._flush()
        if self._in_flight:
            await self._outbox.release(sorted(self._in_flight), self._owner)
            self._in_flight.clear()
        self._running = False

    async def destination_recovered(self, source: str) -> int:
        """The platform of ``source`` works again (an adapter saw it, or a send went through):
        deliveries backing off after transient errors are due now instead of minutes later."""
        self._troubled.discard(source)
        try:
            count = await self._outbox.hurry(source, self._clock.now())
        except Exception:
            log.exception("could not bring %s's waiting deliveries forward", source)
            return 0
        if count:
            log.info("%s is back: %d waiting deliveries are due now", source, count)
            self._wake.set()
        return count

    async def report_failure(self, source: str, external_id: str, reason: str) -> bool:
        """A platform reported after the fact that a sent message did not arrive (an email
        bounce): the delivery is marked failed and agents are told."""
        delivery = await self._outbox.fail_by_external(
            source, external_id, reason[:2000], self._clock.now()
        )
        if delivery is None:
            return False
        log.warning("delivery %d reported failed by %s", delivery.id, source)
        await self._bus.publish(
            [
                DeliveryFailed(
                    delivery.id,
                    delivery.message_id,
                    delivery.conversation_id,
                    DeliveryState.FAILED,
                    reason[:2000],
                )
            ]
        )
        return True

    def state(self) -> ComponentState:
        if not self._running:
            return ComponentState(Health.STOPPED)
        return ComponentState(
            Health.OK, f"{len(self._in_flight)} in flight, {self.sent} sent, {self.failed} failed"
        )

    def wake(self) -> None:
        self._wake.set()

    # --- loops ----------------------------------------------------------------------------

    async def _listen(self, subscription: Subscription) -> None:
        async for _event in subscription:
            self._wake.set()

    async def _claim_loop(self) -> None:
        while self._claiming:
            free = self._concurrency - len(self._in_flight)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await self._outbox.claim_due(
                        self._clock.now(), self._owner, self._retry.lease, free
                    )
                except StorageUnavailable as error:
                    # An outage, not a bug: said once, not with a traceback every second.
                    if not self._store_down:
                        log.warning("claiming deliveries: %s; trying again", error)
                    self._store_down = True
                except Exception:
                    log.exception("claiming deliveries failed; trying again shortly")
                else:
                    if self._store_down:
                        log.info("claiming deliveries works again")
                    self._store_down = False
            for item in claimed:
                if item.delivery.id in self._in_flight:
                    continue
                self._in_flight.add(item.delivery.id)
                self._sends.spawn(self._send(item), f"delivery-{item.delivery.id}")
            if claimed and len(claimed) == free:
                continue  # more may be waiting; claim again as soon as slots free up
            self._wake.clear()
            try:
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _record_loop(self) -> None:
        while True:
            await self._outcome_ready.wait()
            await self._flush()

    async def _flush(self) -> None:
        self._outcome_ready.clear()
        batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            await self._outbox.record([outcome for _, outcome in batch], self._clock.now())
        except Exception:
            # Put them back: the leases still protect the rows, and the next flush retries.
            log.exception("recording %d delivery outcomes failed", len(batch))
            self._outcomes[:0] = batch
            await asyncio.sleep(0.5)
            self._outcome_ready.set()
            return
        recovered: set[str] = set()
        for claimed, outcome in batch:
            self._in_flight.discard(outcome.delivery_id)
            source = claimed.delivery.destination.source
            if outcome.state == "retry":
                self._troubled.add(source)
            elif outcome.state == "sent" and source in self._troubled:
                recovered.add(source)
        for source in recovered:
            await self.destination_recovered(source)
        self._wake.set()
        # Only now is the outcome true in the store, so only now is it announced.
        events = [self._event_for(claimed, outcome) for claimed, outcome in batch]
        try:
            await self._bus.publish(events)
        except Exception:
            log.exception("publishing %d delivery outcomes failed", len(events))

    # --- one delivery ---------------------------------------------------------------------

    async def _send(self, claimed: Claimed) -> None:
        outcome = await self._attempt(claimed)
        self._outcomes.append((claimed, outcome))
        self._outcome_ready.set()

    async def _attempt(self, claimed: Claimed) -> SendOutcome:
        delivery = claimed.delivery
        attempts = delivery.attempts
        adapter = self._adapters.get(delivery.destination.source)
        if adapter is None:
            return SendOutcome(
                delivery.id,
                "retry",
                attempts,
                error=f"channel {delivery.destination.source} is not running",
                next_attempt_at=self._later(self._retry.no_adapter_delay),
            )
        if delivery.edit_of is not None and claimed.edit_of_external_id is None:
            return SendOutcome(
                delivery.id,
                "failed",
                attempts,
                error="the original message was never delivered, so there is nothing to edit",
            )
        try:
            out = OutboundMessage(
                delivery_id=delivery.id,
                idempotency_key=delivery.idempotency_key,
                destination=delivery.destination,
                message=public_view(claimed.message),
                attempt=attempts + 1,
                reply_to_external_id=claimed.reply_to_external_id,
                edit_of_external_id=claimed.edit_of_external_id,
            )
        except InternalMessageRefused as error:
            log.critical("delivery %d refused by the gate: %s", delivery.id, error)
            return SendOutcome(delivery.id, "dead", attempts, error=str(error))

        budget = min(self._retry.in_process_attempts, max(1, self._retry.max_attempts - attempts))
        try:
            try:
                attempts += 1
                receipt = await adapter.send(replace(out, attempt=attempts))
            except TransientChannelError as first:
                wait = self._first_wait(first)
                # Waiting in place must stay well inside the lease, or another process
                # would claim the row meanwhile and send it too: a long Retry-After gives the
                # row back at once, with its next attempt set past it.
                if budget <= 1 or wait > self._in_place_limit:
                    raise
                # Building tenacity's machinery for every delivery cost more than the send
                # itself under load, so it only comes in once the first attempt has failed.
                await asyncio.sleep(wait)
                async for attempt in self._retrying(budget - 1):
                    with attempt:
                        attempts += 1
                        receipt = await adapter.send(replace(out, attempt=attempts))
        except TransientChannelError as error:
            self.retried += 1
            if attempts >= self._retry.max_attempts:
                self.failed += 1
                log.warning(
                    "delivery %d dead after %d attempts: %s", delivery.id, attempts, error.reason
                )
                return SendOutcome(delivery.id, "dead", attempts, error=error.reason)
            wait = max(self._retry.backoff(attempts), error.retry_after or 0.0)
            log.info(
                "delivery %d: transient error after %d attempts, next in %.1fs: %s",
                delivery.id,
                attempts,
                wait,
                error.reason,
            )
            return SendOutcome(
                delivery.id,
                "retry",
                attempts,
                error=error.reason,
                next_attempt_at=self._later(wait),
            )
        except PermanentChannelError as error:
            self.failed += 1
            log.warning("delivery %d failed for good: %s", delivery.id, error.reason)
            return SendOutcome(delivery.id, "failed", attempts, error=error.reason)
        except InternalMessageRefused as error:
            log.critical("delivery %d refused by the adapter's gate: %s", delivery.id, error)
            return SendOutcome(delivery.id, "dead", attempts, error=str(error))
        except Exception as error:
            # An adapter bug must not lose the message: treat it as transient, loudly.
            log.exception("adapter %s raised unexpectedly", delivery.destination.source)
            return SendOutcome(
                delivery.id,
                "retry",
                attempts,
                error=f"unexpected {type(error).__name__}",
                next_attempt_at=self._later(self._retry.backoff(attempts)),
            )
        self.sent += 1
        return SendOutcome(delivery.id, "sent", attempts, external_id=receipt.external_id)

    @property
    def _in_place_limit(self) -> float:
        """Seconds a claim may spend waiting between attempts: a quarter of the lease."""
        return self._retry.lease.total_seconds() / 4

    def _first_wait(self, error: TransientChannelError) -> float:
        """The wait before the second attempt: as :meth:`_retrying` would have waited."""
        retry = self._retry
        wait = min(retry.maximum, retry.initial) + random.uniform(0, retry.initial)  # noqa: S311
        return max(wait, error.retry_after or 0.0)

    def _retrying(self, attempts: int) -> AsyncRetrying:
        """Attempts from the third on, in place: exponential backoff with jitter, never
        sooner than a platform's ``retry_after``. The multiplier is doubled because
        tenacity counts from the second attempt here."""
        retry = self._retry
        return AsyncRetrying(
            retry=retry_if_exception_type(TransientChannelError),
            stop=stop_after_attempt(attempts) | stop_before_delay(self._in_place_limit),
            wait=wait_retry_after(
                wait_exponential(multiplier=retry.initial * 2, max=retry.maximum)
                + wait_random(0, retry.initial)
            ),
            reraise=True,
        )

    def _later(self, seconds: float) -> datetime:
        return self._clock.now() + timedelta(seconds=seconds)

    def _event_for(self, claimed: Claimed, outcome: SendOutcome) -> Event:
        delivery = claimed.delivery
        if self._observer is not None:
            age = (self._clock.now() - delivery.created_at).total_seconds()
            self._observer(delivery.destination.channel, outcome.state, outcome.error, age)
        if outcome.state == "sent":
            return DeliverySent(
                delivery.id,
                delivery.message_id,
                delivery.conversation_id,
                outcome.external_id or "",
                delivery.destination,
            )
        if outcome.state == "retry":
            return DeliveryRetrying(
                delivery.id,
                delivery.message_id,
                delivery.conversation_id,
                outcome.attempts,
                outcome.error or "unknown",
                outcome.next_attempt_at or self._clock.now(),
            )
        return DeliveryFailed(
            delivery.id,
            delivery.message_id,
            delivery.conversation_id,
            DeliveryState(outcome.state),
            outcome.error or "unknown",
        )
