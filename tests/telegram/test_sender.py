"""The sender against the fake Bot API with aiogram's real client: parts never sent twice,
edits, reply targets. The ports it needs (links, files) are in-memory twins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from aiogram import Bot

from bridge.clock import SystemClock
from bridge.errors import NotFound, PermanentChannelError, TransientChannelError
from bridge.gate import public_view
from bridge.model import Attachment, Author, Message, ThreadRef, Visibility
from bridge.outbound import OutboundMessage
from channels.telegram.pacing import Pacer
from channels.telegram.sender import Sender
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import says

CHAT = 7001
DESTINATION = ThreadRef("telegram", "default", str(CHAT))


class MemoryLinks:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], str] = {}

    async def put_links(
        self, source: str, kind: str, pairs: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        for key, value in pairs:
            self.rows[(source, kind, key)] = value

    async def get_links(self, source: str, kind: str, keys: Sequence[str]) -> dict[str, str]:
        return {k: self.rows[(source, kind, k)] for k in keys if (source, kind, k) in self.rows}


class MemoryFiles:
    max_bytes = 1024 * 1024

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def save(self, data: bytes, *, name: str, content_type: str) -> Attachment:
        key = f"k{len(self.data)}"
        self.data[key] = data
        return Attachment(name, content_type, len(data), key)

    async def read(self, storage_key: str) -> bytes:
        if storage_key not in self.data:
            raise NotFound(storage_key)
        return self.data[storage_key]


def sender(bot: Bot, links: MemoryLinks, files: MemoryFiles | None = None) -> Sender:
    return Sender(
        bot,
        Pacer(30, 0, 0),
        files or MemoryFiles(),
        links=links,
        clock=SystemClock(),
        source="telegram:default",
        timeout=10,
    )


def outbound(
    text: str,
    *,
    attachments: tuple[Attachment, ...] = (),
    reply_to: str | None = None,
    edit_of: str | None = None,
    message_id: int = 41,
) -> OutboundMessage:
    message = Message(
        id=message_id,
        conversation_id=3,
        author=Author.AGENT,
        author_name="Bea",
        visibility=Visibility.PUBLIC,
        text=text,
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
        attachments=attachments,
    )
    return OutboundMessage(
        delivery_id=9,
        idempotency_key=f"m{message_id}:telegram:default:7001" + (":edit" if edit_of else ""),
        destination=DESTINATION,
        message=public_view(message),
        attempt=1,
        reply_to_external_id=reply_to,
        edit_of_external_id=edit_of,
    )


async def test_a_part_that_failed_is_sent_alone_and_nothing_twice(
    fake: FakeBotApi, bot: Bot
) -> None:
    links = MemoryLinks()
    text = "\n\n".join(letter * 4000 for letter in "abc")

    def first_letters() -> list[str]:
        return [m.text[0] for m in fake.sent_to(CHAT)]

    fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, after=1)
    with pytest.raises(TransientChannelError) as caught:
        await sender(bot, links).send(outbound(text))
    assert caught.value.retry_after == 1.0
    assert first_letters() == ["a"]
    # The retry, in another process as after a crash: the first part is not sent again.
    fake.fail("sendMessage", 502, "Bad Gateway", after=1)
    with pytest.raises(TransientChannelError):
        await sender(bot, links).send(outbound(text))
    assert first_letters() == ["a", "b"]
    receipt = await sender(bot, links).send(outbound(text))
    assert first_letters() == ["a", "b", "c"]
    # Sent in full, but the outbox never recorded it (a crash): sending again sends nothing.
    again = await sender(bot, links).send(outbound(text))
    assert first_letters() == ["a", "b", "c"]
    assert receipt.external_id == again.external_id == f"{CHAT}:3"


async def test_files_follow_the_text_and_the_receipt_names_the_text(
    fake: FakeBotApi, bot: Bot
) -> None:
    files = MemoryFiles()
    pdf = await files.save(b"%PDF", name="a.pdf", content_type="application/pdf")
    receipt = await sender(bot, MemoryLinks(), files).send(
        outbound("see attached", attachments=(pdf,))
    )
    assert [m.kind for m in fake.sent_to(CHAT)] == ["text", "document"]
    assert receipt.external_id == f"{CHAT}:1"  # the text, which an edit can change
    gone = Attachment("gone.pdf", "application/pdf", 3, "missing")
    with pytest.raises(PermanentChannelError, match="no longer stored"):
        await sender(bot, MemoryLinks(), files).send(outbound("", attachments=(gone,)))


async def test_edits_in_place_and_their_limits(fake: FakeBotApi, bot: Bot) -> None:
    out = sender(bot, MemoryLinks())
    receipt = await out.send(outbound("We open at 9."))
    edited = await out.send(outbound("We open at 10.", edit_of=receipt.external_id))
    assert edited == receipt
    assert fake.sent_to(CHAT)[0].edits == ["We open at 10."]
    # The same text again: Telegram says "not modified"; the message already shows it.
    assert await out.send(outbound("We open at 10.", edit_of=receipt.external_id)) == receipt
    with pytest.raises(PermanentChannelError, match="4,096"):
        await out.send(outbound("x" * 5000, edit_of=receipt.external_id))
    with pytest.raises(PermanentChannelError, match="not found"):
        await out.send(outbound("new", edit_of=f"{CHAT}:999"))


async def test_replies_point_at_the_customers_message_of_this_chat(
    fake: FakeBotApi, bot: Bot
) -> None:
    asked = says(fake, CHAT, "which one?")
    out = sender(bot, MemoryLinks())
    await out.send(outbound("this one", reply_to=f"{CHAT}:{asked}", message_id=1))
    await out.send(outbound("not there", reply_to=f"{CHAT + 1}:{asked}", message_id=2))
    await out.send(
        outbound("gone", reply_to=f"{CHAT}:555", message_id=3)
    )  # deleted: sent without reply
    assert [m.reply_to for m in fake.sent_to(CHAT)] == [asked, None, 555]
