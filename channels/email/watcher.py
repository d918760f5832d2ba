"""The mailbox watcher: IMAP IDLE (or polling), a durable UID cursor, reconnects.

The cursor (``uid:<mailbox>`` in the cursor store) is ``<UIDVALIDITY>:<last UID>``. It moves
past a message only after :meth:`Intake.take` returned, i.e. after the message was
committed, so a restart neither loses nor refetches mail. When the server's UIDVALIDITY
changed (the mailbox was rebuilt, RFC 3501 section 2.3.1.1) every UID is new: the box is read
from the start again and the Message-ID dedupe keeps that from doubling anything.

The loop never ends on an error: it logs, reports itself degraded, waits (doubling up to
``reconnect_max_seconds``, with jitter) and connects again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from bridge.errors import InvalidInput
from bridge.ingest import IngestStopped
from bridge.ports import Clock, ComponentState, CursorStore, Health
from channels.email.imap import ImapError, ImapSession, Selected
from channels.email.intake import Intake, Outcome
from channels.email.settings import EmailSettings

log = logging.getLogger(__name__)

#: Messages fetched per UID FETCH while following the mailbox.
FETCH_CHUNK = 50
FIRST_DELAY = 1.0


def cursor_name(mailbox: str) -> str:
    return f"uid:{mailbox}"


def parse_cursor(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    validity, _, last = value.partition(":")
    try:
        return int(validity), int(last)
    except ValueError:
        return None


class Watcher:
    def __init__(
        self,
        settings: EmailSettings,
        intake: Intake,
        cursors: CursorStore,
        clock: Clock,
        *,
        source: str,
    ) -> None:
        self._settings = settings
        self._intake = intake
        self._cursors = cursors
        self._clock = clock
        self._source = source
        #: Until this process runs the loop, another one does (or it is about to start).
        self.state = ComponentState(Health.OK, "standing by: another process reads the mailbox")
        #: Passes over the mailbox and messages handled (cursor moved, action done) so far;
        #: tests and benches wait on them.
        self.passes = 0
        self.handled = 0
        self._progress = asyncio.Condition()
        self._state_changed = asyncio.Event()
        self._busy = asyncio.Lock()

    async def run(self) -> None:
        self._set_state(ComponentState(Health.STARTING, "connecting"))
        first = min(FIRST_DELAY, self._settings.reconnect_max_seconds)
        delay = first
        while True:
            session = ImapSession(self._settings)
            try:
                await session.connect()
                box = await session.select(self._settings.mailbox)
                if self._settings.processed_action == "move":
                    await session.ensure_folder(self._settings.processed_folder)
                if self.state.health is not Health.OK:
                    log.info("email: watching %s", self._settings.mailbox)
                self._set_state(ComponentState(Health.OK, f"watching {self._settings.mailbox}"))
                delay = first
                await self._follow(session, box)
            except IngestStopped:
                return
            except (ImapError, OSError, TimeoutError) as error:
                self._degraded(f"{type(error).__name__}: {error}", delay)
            except Exception as error:  # a bug must not stop the mailbox for good
                log.exception("email: the mailbox loop failed")
                self._degraded(type(error).__name__, delay)
            finally:
                await session.close()
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)
            delay = min(delay * 2, self._settings.reconnect_max_seconds)

    def _degraded(self, reason: str, delay: float) -> None:
        log.warning("email: %s; reconnecting in %.0f s", reason, delay)
        self._set_state(ComponentState(Health.DEGRADED, f"reconnecting: {reason}"[:300]))

    def _set_state(self, state: ComponentState) -> None:
        self.state = state
        self._state_changed.set()

    async def wait_health(self, health: Health) -> None:
        """Until the loop reports ``health`` (tests)."""
        while self.state.health is not health:
            self._state_changed.clear()
            await self._state_changed.wait()

    async def _follow(self, session: ImapSession, box: Selected) -> None:
        idle = session.has("IDLE")
        while True:
            await self.drain(session, box)
            if idle:
                await session.idle(self._settings.idle_seconds)
            else:
                await asyncio.sleep(self._settings.poll_seconds)
                await session.noop()

    async def drain(self, session: ImapSession, box: Selected) -> int:
        """Take every message after the cursor; returns how many were new."""
        name = cursor_name(box.mailbox)
        stored = parse_cursor(await self._cursors.get_cursor(self._source, name))
        if stored is None:
            taken = await self._first_start(session, box)
        else:
            validity, last = stored
            if validity != box.uidvalidity:
                log.warning(
                    "email: UIDVALIDITY of %s changed (%d -> %d); reading it again",
                    box.mailbox,
                    validity,
                    box.uidvalidity,
                )
                last = 0
            uids = [u for u in await session.search("UID", f"{last + 1}:*") if u > last]
            taken = await self._take(session, box, uids)
        await self._passed()
        return taken

    async def _first_start(self, session: ImapSession, box: Selected) -> int:
        """No cursor yet: read what ``first_start`` asks for, then start after the newest."""
        mode = self._settings.first_start
        everything = await session.search("ALL")
        newest = max([*everything, (box.uidnext or 1) - 1])
        pending: list[int] = []
        if mode == "unseen":
            pending = await session.search("UNSEEN")
        elif mode == "all":
            pending = everything
        log.info("email: first start on %s; taking %d %s messages", box.mailbox, len(pending), mode)
        taken = await self._take(session, box, pending, advance=False)
        await self._save(box, max([newest, *pending]))
        return taken

    async def _take(
        self, session: ImapSession, box: Selected, uids: Sequence[int], *, advance: bool = True
    ) -> int:
        taken = 0
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start : start + FETCH_CHUNK]
            for uid, raw in sorted(await session.fetch(chunk)):
                # One message at a time is stored, its cursor moved and its action done under
                # this lock, so a graceful stop (quiesce) never cuts between them.
                async with self._busy:
                    outcome = await self._take_one(uid, raw)
                    taken += outcome is Outcome.STORED
                    if advance:
                        await self._save(box, uid)
                    await self._after(session, uid)
                async with self._progress:
                    self.handled += 1
                    self._progress.notify_all()
        return taken

    async def _take_one(self, uid: int, raw: bytes) -> Outcome | None:
        try:
            return (await self._intake.take(raw)).outcome
        except InvalidInput as error:  # this message can never be stored; do not block the box
            reason = str(error)
        log.error("email: message UID %d refused: %s", uid, reason)
        return None

    async def _save(self, box: Selected, uid: int) -> None:
        await self._cursors.set_cursor(
            self._source, cursor_name(box.mailbox), f"{box.uidvalidity}:{uid}", self._clock.now()
        )

    async def _after(self, session: ImapSession, uid: int) -> None:
        action = self._settings.processed_action
        if action == "seen":
            await session.mark_seen([uid])
        elif action == "move":
            await session.move([uid], self._settings.processed_folder)

    async def _passed(self) -> None:
        async with self._progress:
            self.passes += 1
            self._progress.notify_all()

    async def quiesce(self) -> None:
        """Wait until no message is half-handled, and hold it so: call before cancelling the
        loop on a graceful stop (a crash is still safe: the refetch is deduplicated)."""
        await self._busy.acquire()

    def resume(self) -> None:
        """Undo :meth:`quiesce` (a stopped channel started again)."""
        if self._busy.locked():
            self._busy.release()

    async def wait_passes(self, count: int) -> None:
        """Until ``count`` passes over the mailbox have finished."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.passes >= count)

    async def wait_handled(self, count: int) -> None:
        """Until ``count`` messages were handled since the start (stored or skipped)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.handled >= count)
