"""Long polling with ``getUpdates``, driven here rather than by aiogram's Dispatcher so that
the offset moves only after the updates it confirms are committed.

Telegram forgets an update once ``getUpdates`` is called with an offset above its id
(https://core.telegram.org/bots/api#getupdates), so the offset is the acknowledgement: it
advances past an update only after :meth:`UpdateHandler.handle` returned for it, and is then
stored (``cursors``: source ``telegram:<account>``, name ``offset``) so that a restart neither
loses nor replays an update. Updates of one chat are handled in order; different chats
concurrently, which lets the ingest pipeline commit a whole batch in one transaction. When an
update fails, the offset stops at it: the next poll brings it back, and the updates after it
that did succeed are skipped by id.

The loop never dies: Telegram or the store being unavailable means backing off (aiogram's
``Backoff``) and showing ``degraded`` on ``/readyz``; recovery is logged once.

After a week without updates Telegram may restart update ids at a random value
(https://core.telegram.org/bots/api#update), so an offset that old is not used: every update
it covered was confirmed by the polls that followed it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramConflictError, TelegramUnauthorizedError
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from pydantic import ValidationError

from bridge.ports import Clock, CursorStore, Health
from channels.telegram.convert import read_update
from channels.telegram.errors import MAPPED, channel_error
from channels.telegram.inbound import RecentUpdates, RetryLater, UpdateHandler

log = logging.getLogger(__name__)

CURSOR = "offset"
#: What the bridge asks Telegram for; other kinds would only be logged and dropped.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
STALE_OFFSET = timedelta(days=6)

Report = Callable[[Health, str], None]


def backoff(maximum: float) -> Backoff:
    return Backoff(
        BackoffConfig(
            min_delay=min(1.0, maximum / 5), max_delay=maximum, factor=1.6, jitter=maximum / 100
        )
    )


class Poller:
    def __init__(
        self,
        bot: Bot,
        handler: UpdateHandler,
        cursors: CursorStore,
        clock: Clock,
        *,
        source: str,
        timeout: int,
        request_timeout: float,
        backoff_max: float,
        seen: RecentUpdates,
        report: Report,
        on_recovered: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._bot = bot
        self._handler = handler
        self._cursors = cursors
        self._clock = clock
        self._source = source
        self._timeout = timeout
        self._request_timeout = int(timeout + request_timeout)
        self._backoff_max = backoff_max
        self._seen = seen
        self._report = report
        self._on_recovered = on_recovered
        self._offset: int | None = None
        self._last_update_at: datetime | None = None
        self.polls = 0

    async def run(self) -> None:
        self._offset = await self._load()
        pause = backoff(self._backoff_max)
        trouble: str | None = None
        while True:
            try:
                # After a failure, a short poll first: recovery shows at once instead of
                # after a long poll that finds nothing new.
                updates = await self._poll(0 if trouble else self._timeout)
            except TelegramUnauthorizedError:
                trouble = "the Bot API refused the token (401): check channels.telegram.token"
                self._report(Health.DOWN, trouble)
                log.error("telegram: %s", trouble)  # noqa: TRY400
                await asyncio.sleep(self._backoff_max)
                continue
            except MAPPED as error:
                reason = channel_error(error).reason
                if trouble is None:
                    log.warning("telegram polling failed, backing off: %s", reason)
                trouble = reason
                self._report(Health.DEGRADED, f"polling failed, retrying: {reason}")
                if isinstance(error, TelegramConflictError) and "webhook" in error.message:
                    await self._delete_webhook()
                await pause.asleep()
                continue
            failed = await self._process(updates) if updates else None
            if failed is not None:
                trouble = failed
                self._report(Health.DEGRADED, f"updates could not be stored, retrying: {failed}")
                await pause.asleep()
                continue
            if trouble is not None:
                log.info("telegram polling recovered after %d attempts", pause.counter)
                trouble = None
                if self._on_recovered is not None:
                    # Telegram answers again: replies backing off need not wait minutes more.
                    await self._on_recovered()
            pause.reset()
            self._report(Health.OK, "polling")

    async def _poll(self, timeout: int) -> list[Update]:
        now = self._clock.now()
        if self._last_update_at is not None and now - self._last_update_at > STALE_OFFSET:
            self._offset = None
        self.polls += 1
        try:
            return await self._bot.get_updates(
                offset=self._offset,
                timeout=timeout,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=self._request_timeout,
            )
        except ClientDecodeError as error:
            salvaged = salvage(error.data)
            if salvaged is None:
                raise
            return salvaged

    async def _process(self, updates: list[Update]) -> str | None:
        """Handle a batch; returns why it stopped short, or None when all of it is committed."""
        self._last_update_at = self._clock.now()
        chains: dict[object, list[Update]] = {}
        for update in sorted(updates, key=lambda u: u.update_id):
            if update.update_id not in self._seen:
                chains.setdefault(_chat_key(update), []).append(update)
        outcomes = await asyncio.gather(*(self._chain(chain) for chain in chains.values()))
        failures = [outcome for outcome in outcomes if outcome is not None]
        if failures:
            first, reason = min(failures)
            await self._advance(first)
            return reason
        await self._advance(max(u.update_id for u in updates) + 1)
        return None

    async def _chain(self, chain: list[Update]) -> tuple[int, str] | None:
        """One chat's updates in order; stops at the first that fails."""
        for update in chain:
            try:
                await self._handler.handle(update)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Only our own messages are shown: a database error quotes its parameters,
                # which may be the customer's message.
                reason = str(error) if isinstance(error, RetryLater) else type(error).__name__
                log.warning("telegram update %d not stored yet: %s", update.update_id, reason)
                log.debug("telegram update %d failed", update.update_id, exc_info=error)
                return update.update_id, reason
            self._seen.add(update.update_id)
        return None

    async def _advance(self, offset: int) -> None:
        if self._offset is not None and offset <= self._offset:
            return
        self._offset = offset
        value = json.dumps({"offset": offset, "at": self._clock.now().isoformat()})
        try:
            await self._cursors.set_cursor(self._source, CURSOR, value, self._clock.now())
        except Exception as error:
            # Telegram still holds every update not confirmed, so the in-memory offset is
            # safe to use; only a restart before the next save replays (deduplicated) a batch.
            log.warning("telegram: saving the polling offset failed: %s", type(error).__name__)

    async def _load(self) -> int | None:
        try:
            raw = await self._cursors.get_cursor(self._source, CURSOR)
        except Exception as error:
            log.warning("telegram: reading the polling offset failed: %s", type(error).__name__)
            return None  # Telegram resends what was not confirmed; duplicates are dropped
        if not raw:
            return None
        try:
            stored = json.loads(raw)
            offset = int(stored["offset"])
            at = datetime.fromisoformat(stored["at"])
        except (ValueError, KeyError, TypeError):
            log.warning("telegram: ignoring an unreadable polling offset")
            return None
        if self._clock.now() - at > STALE_OFFSET:
            return None
        self._last_update_at = at
        return offset

    async def _delete_webhook(self) -> None:
        try:
            await self._bot.delete_webhook(request_timeout=self._request_timeout)
        except MAPPED as error:
            log.warning("telegram: deleteWebhook failed: %s", channel_error(error).reason)

    @property
    def offset(self) -> int | None:
        return self._offset


def _chat_key(update: Update) -> object:
    message = update.message or update.edited_message
    if message is not None:
        return message.chat.id
    return ("update", update.update_id)


def salvage(data: Any) -> list[Update] | None:
    """The updates of a getUpdates answer aiogram refused as a whole, read one by one
    (:func:`read_update`); one that cannot be read at all is kept as a bare update id, so that
    it is logged, acknowledged and cannot hold up the rest. None: not a getUpdates answer."""
    if not isinstance(data, dict) or data.get("ok") is not True:
        return None
    result = data.get("result")
    if not isinstance(result, list):
        return None
    updates: list[Update] = []
    for raw in result:
        if not isinstance(raw, dict) or type(raw.get("update_id")) is not int:
            return None
        try:
            updates.append(read_update(raw))
        except ValidationError:
            unreadable = int(raw["update_id"])
        else:
            continue
        # Not log.exception: pydantic's message quotes the payload, a customer's words.
        log.error("telegram update %d cannot be read by this aiogram; skipped", unreadable)
        updates.append(Update(update_id=unreadable))
    return updates
