"""In-memory twins of the core ports the email channel uses, for tests of the channel's own
logic (threading, intake, the watcher) without booting the bridge. The end-to-end tests use
the real bridge (tests/harness.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bridge.errors import FileTooLarge, NotFound
from bridge.inbound import InboundMessage, IngestResult
from bridge.model import (
    Attachment,
    Author,
    Conversation,
    ConversationStatus,
    Message,
    Priority,
    ThreadRef,
    Visibility,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Links:
    data: dict[tuple[str, str, str], str] = field(default_factory=dict)

    async def put_links(
        self, source: str, kind: str, pairs: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        for key, value in pairs:
            self.data[(source, kind, key)] = value

    async def get_links(self, source: str, kind: str, keys: Sequence[str]) -> dict[str, str]:
        return {k: self.data[(source, kind, k)] for k in keys if (source, kind, k) in self.data}


@dataclass
class Cursors:
    data: dict[tuple[str, str], str] = field(default_factory=dict)

    async def get_cursor(self, source: str, name: str) -> str | None:
        return self.data.get((source, name))

    async def set_cursor(self, source: str, name: str, value: str, now: datetime) -> None:
        self.data[(source, name)] = value


@dataclass
class Files:
    max_bytes: int = 50 * 1024 * 1024
    data: dict[str, bytes] = field(default_factory=dict)

    async def save(self, data: bytes, *, name: str, content_type: str) -> Attachment:
        if len(data) > self.max_bytes:
            raise FileTooLarge(f"{name} is too large")
        key = f"f{len(self.data) + 1}"
        self.data[key] = data
        return Attachment(name, content_type, len(data), key)

    async def read(self, storage_key: str) -> bytes:
        try:
            return self.data[storage_key]
        except KeyError:
            raise NotFound(storage_key) from None


@dataclass
class Feedback:
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    async def report_failure(self, source: str, external_id: str, reason: str) -> bool:
        self.failures.append((source, external_id, reason))
        return True


@dataclass
class Store:
    """Ingest plus the few ConversationStore reads the channel makes: one conversation per
    thread, one message per (source, external id)."""

    conversations: dict[int, Conversation] = field(default_factory=dict)
    by_thread: dict[ThreadRef, int] = field(default_factory=dict)
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)
    items: list[InboundMessage] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    calls: int = 0

    async def ingest(self, message: InboundMessage) -> IngestResult:
        self.calls += 1
        key = (message.thread.source, message.external_id)
        if key in self.messages:
            stored = self.messages[key]
            return IngestResult(stored, self.conversations[stored.conversation_id], duplicate=True)
        opened = message.thread not in self.by_thread
        if opened:
            number = len(self.conversations) + 1
            self.conversations[number] = Conversation(
                id=number,
                customer_id=1,
                origin=message.thread,
                status=ConversationStatus.QUEUED,
                team="support",
                tier=1,
                priority=Priority.NORMAL,
                created_at=message.received_at,
                updated_at=message.received_at,
            )
            self.by_thread[message.thread] = number
        conversation = self.conversations[self.by_thread[message.thread]]
        stored = Message(
            id=next(self._ids),
            conversation_id=conversation.id,
            author=Author.CUSTOMER,
            author_name=message.sender_name,
            visibility=Visibility.PUBLIC,
            text=message.text,
            created_at=message.received_at,
            attachments=message.attachments,
            source=message.thread.source,
            external_id=message.external_id,
        )
        self.messages[key] = stored
        async with self.changed:
            self.items.append(message)
            self.changed.notify_all()
        return IngestResult(
            stored, conversation, opened=opened, auto_reply_allowed=message.auto_reply_allowed
        )

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[InboundMessage]:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(self.items) >= count)
        return self.items

    async def get_conversation(self, conversation_id: int) -> Conversation:
        try:
            return self.conversations[conversation_id]
        except KeyError:
            raise NotFound(f"conversation {conversation_id}") from None

    async def message_by_external(self, source: str, external_id: str) -> Message | None:
        return self.messages.get((source, external_id))

    def add_conversation(self, thread: ThreadRef) -> Conversation:
        number = len(self.conversations) + 1
        conversation = Conversation(
            id=number,
            customer_id=1,
            origin=thread,
            status=ConversationStatus.QUEUED,
            team="support",
            tier=1,
            priority=Priority.NORMAL,
            created_at=NOW,
            updated_at=NOW,
        )
        self.conversations[number] = conversation
        self.by_thread[thread] = number
        return replace(conversation)


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current
