"""One public message out as an email, threaded under the customer's mail.

Before the SMTP transaction the Message-ID is recorded in the thread links, so the
customer's answer threads even if the process dies right after the server took the mail.
The Message-ID is derived from the delivery's idempotency key: a retried delivery carries
the same id and the recipient's client shows it once.

Automatic messages (acknowledgements and other bot messages) are capped per recipient and
UTC day (``max_auto_per_sender_per_day``, RFC 3834 section 2: "limit the number of
responses"). Over the cap the delivery fails permanently with a reason agents can read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime

from bridge.errors import NotFound, PermanentChannelError
from bridge.outbound import OutboundMessage, SentReceipt
from bridge.ports import Clock, ConversationStore, FileStore, LinkStore
from bridge.tasks import TaskGroup
from channels.email.convert import (
    FileData,
    build_message,
    is_automatic,
    outgoing_message_id,
)
from channels.email.imap import ImapError, ImapSession
from channels.email.settings import EmailSettings
from channels.email.smtp import SmtpSender
from channels.email.threads import ThreadBook, reply_subject, sender_of

log = logging.getLogger(__name__)

#: (address|YYYY-MM-DD) -> automatic messages sent to that address that UTC day.
AUTO_COUNT = "auto_count"
COPY_GRACE_SECONDS = 5.0


class AutoCap:
    """Counts automatic messages per recipient and day in the link store."""

    def __init__(self, links: LinkStore, clock: Clock, *, source: str, limit: int) -> None:
        self._links = links
        self._clock = clock
        self._source = source
        self._limit = limit
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def lock(self, address: str) -> asyncio.Lock:
        return self._locks[address]

    def _key(self, address: str, now: datetime) -> str:
        return f"{address}|{now.date().isoformat()}"

    async def check(self, address: str) -> None:
        key = self._key(address, self._clock.now())
        count = int((await self._links.get_links(self._source, AUTO_COUNT, [key])).get(key, "0"))
        if count >= self._limit:
            raise PermanentChannelError("automatic replies to this sender are capped today")

    async def count(self, address: str) -> None:
        now = self._clock.now()
        key = self._key(address, now)
        count = int((await self._links.get_links(self._source, AUTO_COUNT, [key])).get(key, "0"))
        await self._links.put_links(self._source, AUTO_COUNT, [(key, str(count + 1))], now)
        if len(self._locks) > 10_000:
            self._locks = defaultdict(asyncio.Lock)


class Mailer:
    def __init__(
        self,
        settings: EmailSettings,
        *,
        threads: ThreadBook,
        conversations: ConversationStore,
        files: FileStore,
        links: LinkStore,
        clock: Clock,
        source: str,
        salt: str,
    ) -> None:
        self._settings = settings
        self._threads = threads
        self._conversations = conversations
        self._files = files
        self._clock = clock
        self._salt = salt
        self._smtp = SmtpSender(settings)
        self._cap = AutoCap(links, clock, source=source, limit=settings.max_auto_per_sender_per_day)
        self._copies = TaskGroup("email-sent-copies")
        self._pending: set[asyncio.Task[None]] = set()

    async def send(self, out: OutboundMessage) -> SentReceipt:
        if out.edit_of_external_id is not None:
            raise PermanentChannelError(
                "an email cannot be changed once sent; send a new reply with the correction"
            )
        to = sender_of(out.destination.thread_key)
        if "@" not in to:
            raise PermanentChannelError(f"no email address in thread {out.destination.thread_key}")
        if is_automatic(out.message):
            async with self._cap.lock(to):
                await self._cap.check(to)
                receipt = await self._send(out, to, automatic=True)
                await self._cap.count(to)
                return receipt
        return await self._send(out, to, automatic=False)

    async def _send(self, out: OutboundMessage, to: str, *, automatic: bool) -> SentReceipt:
        settings = self._settings
        key = out.destination.thread_key
        conversation = await self._conversations.get_conversation(out.message.conversation_id)
        thread = await self._threads.outbound(key, out.reply_to_external_id)
        message_id = outgoing_message_id(out.idempotency_key, settings.from_address, self._salt)
        files: list[FileData] = []
        for attachment in out.message.attachments:
            try:
                data = await self._files.read(attachment.storage_key)
            except NotFound:
                raise PermanentChannelError(f"attachment {attachment.name} is gone") from None
            files.append(FileData(attachment.name, attachment.content_type, data))
        mail = build_message(
            out.message,
            to=to,
            from_address=settings.from_address,
            from_name=settings.from_name,
            subject=reply_subject(thread.subject, conversation.reference),
            message_id=message_id,
            in_reply_to=thread.in_reply_to,
            references=thread.references,
            date=self._clock.now(),
            files=files,
            automatic=automatic,
        )
        await self._threads.remember_outbound(key, message_id)
        await self._smtp.send(mail, sender=settings.from_address, recipients=[to])
        log.info("email %s sent for message %d", message_id, out.message.id)
        if settings.sent_folder:
            data = mail.as_bytes()
            task = self._copies.spawn(self._keep_copy(data), f"copy-{message_id}")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return SentReceipt(message_id)

    async def _keep_copy(self, data: bytes) -> None:
        """APPEND to the Sent folder; best effort: the customer has the mail already."""
        session = ImapSession(self._settings)
        try:
            await session.connect()
            await session.ensure_folder(self._settings.sent_folder)
            await session.append(self._settings.sent_folder, data, self._clock.now())
        except (ImapError, OSError, TimeoutError) as error:
            log.warning("email: no copy in %s: %s", self._settings.sent_folder, error)
        finally:
            await session.close()

    async def stop(self) -> None:
        """Let copies under way finish (briefly), then cancel the rest."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=COPY_GRACE_SECONDS)
        await self._copies.cancel_all()
