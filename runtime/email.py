"""Wiring of the email channel: its adapter from settings, or None when it is off; and the
``bridge email import`` command's body."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta
from pathlib import Path

from bridge.clock import SystemClock
from bridge.deps import ChannelDeps
from bridge.dispatcher import Dispatcher
from bridge.ingest import Ingestor
from bridge.model import source_key
from bridge.ports import ConversationPolicy
from channels.email.adapter import EmailAdapter
from channels.email.imap import ImapError
from channels.email.importer import Importer, ImportReport, Progress
from channels.email.intake import Intake
from channels.email.settings import EmailSettings
from channels.email.threads import CHANNEL, ThreadBook
from config.loader import ConfigError
from config.schema import Settings
from runtime.channel import WebChannel
from storage.bus import InProcessBus
from storage.files import LocalFileStore
from storage.store import Storage

#: Seconds between two updates of the progress line.
PROGRESS_EVERY = 0.2


def build_email(settings: EmailSettings, deps: ChannelDeps) -> WebChannel | None:
    """None: the channel is not configured (``imap_host`` is empty)."""
    if not settings.enabled:
        return None
    return EmailAdapter(settings, deps)


async def import_mailbox(
    settings: Settings, *, mailbox: str | None = None, progress: Progress | None = None
) -> ImportReport:
    """Load the configured mailbox (or ``mailbox``) into the database; sends nothing.

    Builds only what an import needs (storage, the ingest pipeline, files): no router runs, so
    nothing is acknowledged, and no dispatcher sends. Runs next to a stopped bridge or a
    running one (the Message-ID dedupe keeps the two from doubling anything); a running
    bridge shows the imported conversations in its live queue after its next restart.
    """
    email = settings.channels.email
    if not email.enabled or email.problems():
        problems = email.problems() if email.enabled else ["channels.email.imap_host is empty"]
        raise ConfigError(problems)
    clock = SystemClock()
    storage = Storage.open(
        settings.storage.database_url,
        sqlite_synchronous=settings.storage.sqlite_synchronous.upper(),
        pool_size=settings.storage.pool_size,
    )
    bus = InProcessBus()
    # The same conversation policy as `bridge serve` (runtime/app.py), so an imported mail
    # lands where a live one would; no router runs here, so nothing is answered.
    policy = ConversationPolicy(
        reopen_window=timedelta(hours=settings.routing.reopen_window_hours),
        default_team=settings.routing.default_team,
        returning_position=settings.routing.returning_position,
    )
    ingestor = Ingestor(storage.ingest, bus, policy, clock, edits=storage.conversations)
    files = LocalFileStore(Path(settings.storage.files_dir), settings.storage.max_file_bytes)
    # Bounces in the mailbox fail the deliveries they name, as they would live.
    feedback = Dispatcher(storage.outbox, {}, bus, clock, owner="email-import")
    await storage.prepare(auto_migrate=settings.storage.auto_migrate)
    await bus.start()
    await ingestor.start()
    try:
        source = source_key(CHANNEL, email.account)
        threads = ThreadBook(
            storage.links,
            storage.conversations,
            clock,
            source=source,
            account=email.account,
            new_subject_new_conversation=email.new_subject_new_conversation,
        )
        intake = Intake(
            email,
            source=source,
            threads=threads,
            ingest=ingestor,
            conversations=storage.conversations,
            files=files,
            feedback=feedback,
            clock=clock,
        )
        importer = Importer(email, intake, ingestor, storage.cursors, clock, source=source)
        return await importer.run(mailbox, progress)
    finally:
        await ingestor.stop(settings.server.shutdown_timeout)
        await bus.stop()
        await storage.close()


def import_command(settings: Settings, *, mailbox: str | None, quiet: bool) -> int:
    """``bridge email import``: the import with a progress line on stderr; exit code."""
    shown = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - shown[0] < PROGRESS_EVERY:
            return
        shown[0] = now
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else ""
        print(f"\r[{bar}] {done}/{total} messages", end=end, file=sys.stderr, flush=True)

    try:
        report = asyncio.run(
            import_mailbox(settings, mailbox=mailbox, progress=None if quiet else progress)
        )
    except ConfigError as error:
        print("configuration error:", *error.problems, sep="\n  ", file=sys.stderr)
        return 2
    except ImapError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rate = report.messages / report.seconds if report.seconds else 0.0
    print(
        f"{report.mailbox}: {report.messages} messages in {report.seconds:.1f} s "
        f"({rate:.0f}/s): {report.stored} stored, {report.duplicates} already there, "
        f"{report.skipped} skipped; {report.threads} conversations opened"
    )
    return 0
