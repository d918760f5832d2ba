"""One incoming mail, from raw bytes to a committed customer message (or a reason not to).

Shared by the live mailbox watcher and ``bridge email import``. Order matters for crash
safety: the thread links are written before the message is stored, and the caller moves its
IMAP cursor only after :meth:`Intake.take` returns, so a crash at any point leads to a
refetch that is deduplicated on the Message-ID, never to a lost or doubled message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bridge.errors import FileTooLarge
from bridge.inbound import InboundMessage
from bridge.model import Attachment, ThreadRef
from bridge.ports import Clock, ConversationStore, DeliveryFeedback, FileStore, Ingest
from channels.email.convert import ORIGINAL_NAME, Skipped, agent_text, inbound_message
from channels.email.loops import automatic_reason, bounce_of
from channels.email.mime import ParsedEmail, parse
from channels.email.settings import EmailSettings
from channels.email.threads import CHANNEL, Placement, ThreadBook

log = logging.getLogger(__name__)

_AUTH_RESULT = re.compile(r"\bdmarc\s*=\s*pass\b.*?\bheader\.from\s*=\s*([^\s;]+)", re.I | re.S)


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    BOUNCE = "bounce"
    OWN = "own"  # our own address as the sender: a copy of what we sent, or a loop
    UNUSABLE = "unusable"  # no sender address: nobody to answer


@dataclass(frozen=True, slots=True)
class Taken:
    outcome: Outcome
    message_id: str
    conversation_id: int | None = None
    detail: str = ""


def sender_verified(parsed: ParsedEmail, settings: EmailSettings) -> bool:
    """Whether the From address is proven (see ``trust_sender_addresses`` and
    ``trusted_authserv_id``). Only the receiving server's own Authentication-Results header
    counts (RFC 8601, section 5: it removes copies of its id that came from outside)."""
    if settings.trust_sender_addresses:
        return True
    wanted = settings.trusted_authserv_id.strip().lower()
    if not wanted or not parsed.from_address:
        return False
    domain = parsed.from_address.rsplit("@", 1)[-1]
    try:
        headers = parsed.message.get_all("Authentication-Results") or []
    except Exception:
        return False
    for header in headers:
        authserv, _, results = str(header).partition(";")
        tokens = authserv.split()
        if not tokens or tokens[0].lower() != wanted:
            continue
        for match in _AUTH_RESULT.finditer(results):
            if match.group(1).strip().lower() == domain:
                return True
    return False


class Intake:
    def __init__(
        self,
        settings: EmailSettings,
        *,
        source: str,
        threads: ThreadBook,
        ingest: Ingest,
        conversations: ConversationStore,
        files: FileStore,
        feedback: DeliveryFeedback,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._source = source
        self.threads = threads
        self._ingest = ingest
        self._conversations = conversations
        self._files = files
        self._feedback = feedback
        self._clock = clock

    async def take(self, raw: bytes) -> Taken:
        """Store one mail as it arrives (the live path)."""
        parsed = parse(raw)
        early = await self.screen(parsed)
        if early is not None:
            return early
        placement = await self.threads.place(
            parsed.from_address, parsed.message_id, parsed.referenced, parsed.subject
        )
        if await self.known(parsed.message_id):
            return Taken(Outcome.DUPLICATE, parsed.message_id)
        await self.threads.remember_inbound(placement, parsed.message_id, parsed.subject)
        reason = automatic_reason(parsed)
        if reason is not None:
            log.info("email %s is automatic (%s): no auto-reply", parsed.message_id, reason)
        item = await self.message(
            parsed, placement, received_at=self._clock.now(), auto_reply_allowed=reason is None
        )
        result = await self._ingest.ingest(item)
        log.info(
            "email %s -> conversation %d (%s)",
            parsed.message_id,
            result.conversation.id,
            placement.how,
        )
        outcome = Outcome.DUPLICATE if result.duplicate else Outcome.STORED
        return Taken(outcome, parsed.message_id, result.conversation.id)

    async def screen(self, parsed: ParsedEmail) -> Taken | None:
        """Mail that never becomes a customer message: bounces (reported against the
        delivery they name), our own, and mail without a sender."""
        bounce = bounce_of(parsed)
        if bounce is not None:
            if bounce.failed:
                for original in bounce.original_message_ids:
                    known = await self._feedback.report_failure(
                        self._source, original, f"bounced: {bounce.reason}"
                    )
                    log.info("bounce for %s (known delivery: %s)", original, known)
            return Taken(Outcome.BOUNCE, parsed.message_id, detail=bounce.reason)
        own = self._settings.from_address.lower()
        if own and parsed.from_address == own:
            return Taken(Outcome.OWN, parsed.message_id)
        if not parsed.from_address:
            log.warning("email %s has no sender address; not stored", parsed.message_id)
            return Taken(Outcome.UNUSABLE, parsed.message_id)
        return None

    async def known(self, message_id: str) -> bool:
        found = await self._conversations.message_by_external(self._source, message_id)
        return found is not None

    async def message(
        self,
        parsed: ParsedEmail,
        placement: Placement,
        *,
        received_at: datetime,
        auto_reply_allowed: bool,
    ) -> InboundMessage:
        """The customer message, with its attachments and the original stored."""
        attachments, skipped = await self.store_files(parsed)
        return inbound_message(
            parsed,
            ThreadRef(CHANNEL, self._settings.account, placement.thread_key),
            text=agent_text(parsed, new_thread=placement.new, skipped=skipped),
            attachments=attachments,
            received_at=received_at,
            verified=sender_verified(parsed, self._settings),
            auto_reply_allowed=auto_reply_allowed,
        )

    async def store_files(
        self, parsed: ParsedEmail
    ) -> tuple[tuple[Attachment, ...], list[Skipped]]:
        limit = min(self._settings.max_attachment_bytes, self._files.max_bytes)
        stored: list[Attachment] = []
        skipped: list[Skipped] = []
        items = [(p.name, p.content_type, p.data) for p in parsed.attachments]
        items.append((ORIGINAL_NAME, "message/rfc822", parsed.raw))
        for name, content_type, data in items:
            if len(data) > limit:
                skipped.append(Skipped(name, len(data)))
                continue
            try:
                stored.append(await self._files.save(data, name=name, content_type=content_type))
            except FileTooLarge:
                skipped.append(Skipped(name, len(data)))
        return tuple(stored), skipped
