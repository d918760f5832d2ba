"""Small builders for test data."""

from __future__ import annotations

from datetime import datetime

from bridge.inbound import InboundMessage
from bridge.model import ThreadRef

WEBCHAT = ThreadRef("webchat", "default", "visitor-1")


def inbound(
    external_id: str,
    *,
    at: datetime,
    text: str = "hello",
    thread: ThreadRef = WEBCHAT,
    sender_id: str | None = None,
    sender_name: str = "Ana",
    email: str | None = None,
    email_verified: bool = False,
    language: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        thread=thread,
        external_id=external_id,
        sender_id=sender_id or thread.thread_key,
        sender_name=sender_name,
        text=text,
        received_at=at,
        email=email,
        email_verified=email_verified,
        language=language,
    )
