"""The email adapter on in-memory core ports, pointed at the real servers of the fixtures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import aiosmtplib

from bridge.deps import ChannelDeps
from bridge.gate import public_view
from bridge.model import Attachment, Author, Message, ThreadRef, Visibility
from bridge.outbound import OutboundMessage
from channels.email.adapter import EmailAdapter
from channels.email.settings import EmailSettings
from storage.locks import LocalSingletons
from tests.email.memory import Cursors, Feedback, Files, FixedClock, Links, Store
from tests.email.servers import CUSTOMER, SUPPORT, Dovecot, SmtpSink


@dataclass
class Rig:
    settings: EmailSettings
    store: Store = field(default_factory=Store)
    links: Links = field(default_factory=Links)
    cursors: Cursors = field(default_factory=Cursors)
    files: Files = field(default_factory=Files)
    feedback: Feedback = field(default_factory=Feedback)
    clock: FixedClock = field(default_factory=FixedClock)
    adapters: list[EmailAdapter] = field(default_factory=list)

    def adapter(self) -> EmailAdapter:
        deps = ChannelDeps(
            ingest=self.store,
            history=cast(Any, None),
            conversations=cast(Any, self.store),
            service=cast(Any, None),
            queue=cast(Any, None),
            agents=cast(Any, None),
            cursors=self.cursors,
            links=self.links,
            files=self.files,
            feedback=self.feedback,
            bus=cast(Any, None),
            clock=self.clock,
            public_url="http://127.0.0.1:8080",
            var_dir=Path("/nonexistent"),
            singletons=LocalSingletons(),
        )
        adapter = EmailAdapter(self.settings, deps)
        self.adapters.append(adapter)
        return adapter

    async def started(self) -> EmailAdapter:
        adapter = self.adapter()
        await adapter.start()
        await adapter.watcher.wait_passes(1)
        return adapter

    async def stop(self) -> None:
        for adapter in self.adapters:
            await adapter.stop()


def rig(dovecot: Dovecot, smtp: SmtpSink | None = None, **overrides: Any) -> Rig:
    sending: dict[str, Any] = {"smtp_host": "127.0.0.1", "smtp_security": "none"}
    sending["smtp_port"] = smtp.port if smtp is not None else 1
    return Rig(EmailSettings(**dovecot.settings(**(sending | overrides))))


def customer_mail(
    text: str,
    *,
    subject: str = "Help with my order",
    message_id: str,
    sender: str = CUSTOMER,
    name: str = "Ana Souza",
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"{name} <{sender}>"
    mail["To"] = SUPPORT
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        mail["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        mail["References"] = " ".join(f"<{r}>" for r in references)
    for name_, value in (headers or {}).items():
        mail[name_] = value
    mail.set_content(text)
    return mail


async def mail_in(smtp: SmtpSink, mail: EmailMessage) -> None:
    """The customer's mail client sends through SMTP; the sink delivers it to Dovecot."""
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=smtp.port)


def outbound(
    text: str,
    *,
    thread_key: str,
    conversation_id: int = 1,
    message_id: int = 100,
    author: Author = Author.AGENT,
    attachments: tuple[Attachment, ...] = (),
    reply_to: str | None = None,
    edit_of: str | None = None,
    when: datetime | None = None,
) -> OutboundMessage:
    from tests.email.memory import NOW

    message = Message(
        id=message_id,
        conversation_id=conversation_id,
        author=author,
        author_name="Bea Santos" if author is Author.AGENT else "Support",
        visibility=Visibility.PUBLIC,
        text=text,
        created_at=when or NOW,
        attachments=attachments,
    )
    return OutboundMessage(
        delivery_id=message_id,
        idempotency_key=f"m{message_id}:email:default:{thread_key}",
        destination=ThreadRef("email", "default", thread_key),
        message=public_view(message),
        attempt=1,
        reply_to_external_id=reply_to,
        edit_of_external_id=edit_of,
    )
