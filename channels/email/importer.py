"""``bridge email import``: load an existing mailbox, threads rebuilt, nothing sent.

Two passes over IMAP:

1. the threading headers of every message (one ``UID FETCH`` per 100), so threads
   are planned over the whole mailbox in date order (a reply stored before its parent still
   finds it) and the thread links are written in a few batches;
2. the bodies, in chunks of 50 UIDs in date order; the next chunk is fetched while
   the current one is stored. Within a chunk every thread is ingested concurrently (the
   ingest pipeline group-commits them) while each thread's messages go one after another in
   date order.

Imported messages are marked ``auto_reply_allowed=False``: the router sends no
acknowledgement for them, so an import never mails a customer. Bounces are reported against
the deliveries they name, as when they arrive live. When the import read the mailbox the
channel follows, its cursor moves past the imported mail, so the running channel does not
fetch it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.errors import InvalidInput
from bridge.inbound import IngestResult
from bridge.ports import Clock, CursorStore, Ingest
from channels.email.imap import ImapSession
from channels.email.intake import Intake, Outcome
from channels.email.mime import ParsedEmail, parse
from channels.email.settings import EmailSettings
from channels.email.threadplan import Header, ThreadPlanner
from channels.email.threads import Placement
from channels.email.watcher import cursor_name, parse_cursor

log = logging.getLogger(__name__)

HEADER_FIELDS = ("MESSAGE-ID", "IN-REPLY-TO", "REFERENCES", "FROM", "DATE", "SUBJECT")
#: UIDs per FETCH. aioimaplib parses a response recursively (a stack frame per line) and
#: rescans it for every literal, so a FETCH of a few thousand messages exceeds Python's
#: recursion limit and big ones cost more per message; the next chunk is always under way.
HEADER_CHUNK = 100
BODY_CHUNK = 50
#: Stores started but not finished, at most (bounds the memory of parsed mails).
MAX_PENDING = 1000

#: Called with (messages done, messages in all) as the import goes.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ImportReport:
    mailbox: str
    messages: int
    stored: int
    duplicates: int
    skipped: int  # bounces, our own mail, mail without a sender, refused
    threads: int  # conversations the import opened
    seconds: float


@dataclass(frozen=True, slots=True)
class _Planned:
    uid: int
    header: Header
    date: datetime
    missing_id: bool


class Importer:
    def __init__(
        self,
        settings: EmailSettings,
        intake: Intake,
        ingest: Ingest,
        cursors: CursorStore,
        clock: Clock,
        *,
        source: str,
    ) -> None:
        self._settings = settings
        self._intake = intake
        self._ingest = ingest
        self._cursors = cursors
        self._clock = clock
        self._source = source
        self._opened: set[str] = set()  # threads whose conversation the import opened

    async def run(
        self, mailbox: str | None = None, progress: Progress | None = None
    ) -> ImportReport:
        mailbox = mailbox or self._settings.mailbox
        started = time.monotonic()
        self._opened = set()
        reader = ImapSession(self._settings)
        try:
            await reader.connect()
            box = await reader.select(mailbox)
            uids = await reader.search("ALL")
            planned = await self._headers(reader, uids)
            planner = ThreadPlanner(self._intake.threads)
            headers = [p.header for p in planned if not p.missing_id]
            placements = await planner.plan(headers)
            await planner.remember(headers, placements)
            counts = await self._bodies(reader, planned, placements, progress)
        finally:
            await reader.close()
        if mailbox == self._settings.mailbox and uids:
            await self._advance_cursor(mailbox, box.uidvalidity, max(uids))
        report = ImportReport(
            mailbox=mailbox,
            messages=len(uids),
            stored=counts[Outcome.STORED],
            duplicates=counts[Outcome.DUPLICATE],
            skipped=len(uids) - counts[Outcome.STORED] - counts[Outcome.DUPLICATE],
            threads=len(self._opened),
            seconds=time.monotonic() - started,
        )
        log.info("email import of %s: %s", mailbox, report)
        return report

    async def _headers(self, reader: ImapSession, uids: Sequence[int]) -> list[_Planned]:
        planned: list[_Planned] = []
        previous = datetime(1970, 1, 1, tzinfo=UTC)
        for start in range(0, len(uids), HEADER_CHUNK):
            chunk = uids[start : start + HEADER_CHUNK]
            for uid, raw in sorted(await reader.fetch_headers(chunk, HEADER_FIELDS)):
                parsed = parse(raw)
                # A message without a Date keeps its place in the mailbox's order.
                previous = parsed.date or previous
                header = Header(
                    uid, parsed.message_id, parsed.referenced, parsed.from_address, parsed.subject
                )
                planned.append(_Planned(uid, header, previous, parsed.message_id_missing))
        planned.sort(key=lambda p: (p.date, p.uid))
        return planned

    async def _bodies(
        self,
        reader: ImapSession,
        planned: Sequence[_Planned],
        placements: dict[int, Placement],
        progress: Progress | None,
    ) -> dict[Outcome, int]:
        """Fetch, parse and store; the three overlap: the next chunk is fetched while this one
        is parsed, and stores run while later mails are parsed, each thread's in order."""
        counts = dict.fromkeys(Outcome, 0)
        chunks = [planned[i : i + BODY_CHUNK] for i in range(0, len(planned), BODY_CHUNK)]
        tails: dict[str, asyncio.Task[Outcome]] = {}  # each thread's latest store
        running: set[asyncio.Task[Outcome]] = set()

        def finished(task: asyncio.Task[Outcome]) -> None:
            running.discard(task)
            if not task.cancelled() and task.exception() is None:
                counts[task.result()] += 1

        def report() -> None:
            if progress is not None:
                progress(sum(counts.values()), len(planned))

        upcoming: asyncio.Future[list[tuple[int, bytes]]] | None = None
        try:
            for index, chunk in enumerate(chunks):
                if upcoming is None:
                    upcoming = asyncio.ensure_future(reader.fetch([p.uid for p in chunk]))
                fetched = dict(await upcoming)
                upcoming = None
                if index + 1 < len(chunks):
                    following = [p.uid for p in chunks[index + 1]]
                    upcoming = asyncio.ensure_future(reader.fetch(following))
                for item in chunk:
                    outcome, work = await self._prepare(item, fetched.get(item.uid), placements)
                    if work is None:
                        counts[outcome] += 1
                        continue
                    parsed, placement = work
                    previous = tails.get(placement.thread_key)
                    task = asyncio.create_task(self._store_after(previous, parsed, placement))
                    tails[placement.thread_key] = task
                    running.add(task)
                    task.add_done_callback(finished)
                while len(running) > MAX_PENDING:
                    await asyncio.wait(set(running), return_when=asyncio.FIRST_COMPLETED)
                report()
            if running:
                await asyncio.gather(*running)
            report()
        finally:
            left: list[asyncio.Future[Any]] = [*running]
            if upcoming is not None:
                left.append(upcoming)
            for future in left:
                future.cancel()
            await asyncio.gather(*left, return_exceptions=True)
        return counts

    async def _prepare(
        self, item: _Planned, raw: bytes | None, placements: dict[int, Placement]
    ) -> tuple[Outcome, tuple[ParsedEmail, Placement] | None]:
        """Parse and screen one mail: an outcome now, or the work of storing it."""
        if raw is None:  # expunged meanwhile
            return Outcome.UNUSABLE, None
        parsed = parse(raw)
        early = await self._intake.screen(parsed)
        if early is not None:
            return early.outcome, None
        placement = placements.get(item.uid)
        if placement is None:  # no Message-ID: its made-up id threads nowhere else
            threads = self._intake.threads
            placement = await threads.place(
                parsed.from_address, parsed.message_id, parsed.referenced, parsed.subject
            )
            await threads.remember_inbound(placement, parsed.message_id, parsed.subject)
        return Outcome.STORED, (parsed, placement)

    async def _store_after(
        self, previous: asyncio.Task[Outcome] | None, parsed: ParsedEmail, placement: Placement
    ) -> Outcome:
        """Store one mail once the thread's previous one is stored (date order per thread)."""
        if previous is not None:
            await previous
        # Links are written before a message is stored, so a message whose id was not linked
        # before this import was never stored: only the others need a look.
        if placement.how == "known" and await self._intake.known(parsed.message_id):
            return Outcome.DUPLICATE
        now = self._clock.now()
        result = await self._store(parsed, placement, min(parsed.date or now, now))
        if result is None:
            return Outcome.UNUSABLE
        if result.opened:
            self._opened.add(placement.thread_key)
        return Outcome.DUPLICATE if result.duplicate else Outcome.STORED

    async def _store(
        self, parsed: ParsedEmail, placement: Placement, when: datetime
    ) -> IngestResult | None:
        """None when the mail can never be stored (logged); the import goes on."""
        try:
            item = await self._intake.message(
                parsed, placement, received_at=when, auto_reply_allowed=False
            )
            return await self._ingest.ingest(item)
        except InvalidInput as error:
            reason = str(error)
        log.error("email import: %s refused: %s", parsed.message_id, reason)
        return None

    async def _advance_cursor(self, mailbox: str, validity: int, last: int) -> None:
        name = cursor_name(mailbox)
        stored = parse_cursor(await self._cursors.get_cursor(self._source, name))
        if stored is not None and stored[0] == validity and stored[1] >= last:
            return
        await self._cursors.set_cursor(self._source, name, f"{validity}:{last}", self._clock.now())
