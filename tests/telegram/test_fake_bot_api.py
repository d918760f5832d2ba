"""The fake Bot API behaves like Telegram's for aiogram's real client: the envelope, the
offset rules of getUpdates, multipart uploads, downloads, and the errors aiogram maps."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, ReplyParameters

from tests.telegram.conftest import client_for
from tests.telegram.fake_bot_api import FakeBotApi, Limits
from tests.telegram.updates import says


async def test_get_me_and_a_wrong_token(fake: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123, "support_test_bot", True)
    other = Bot("999:WRONG", session=bot.session)
    with pytest.raises(TelegramUnauthorizedError):
        await other.get_me()


async def test_the_offset_confirms_updates_below_it(fake: FakeBotApi, bot: Bot) -> None:
    first = says(fake, 10, "one")
    says(fake, 10, "two")
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["one", "two"]
    # Not confirmed yet: asked again without a new offset, Telegram sends them again.
    assert len(await bot.get_updates(timeout=0)) == 2
    again = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert [u.message.text for u in again if u.message] == ["two"]
    assert fake.pending_updates == 1
    assert first == 1


async def test_a_long_poll_returns_when_an_update_arrives(fake: FakeBotApi, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) == 1)
    says(fake, 10, "hi")
    updates = await asyncio.wait_for(poll, 5)
    assert [u.message.text for u in updates if u.message] == ["hi"]


async def test_a_second_poller_ends_the_first_with_409(fake: FakeBotApi, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=20))
    await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) == 1)
    second = asyncio.create_task(bot.get_updates(timeout=20))
    with pytest.raises(TelegramConflictError):
        await asyncio.wait_for(first, 5)
    says(fake, 10, "hi")
    assert len(await asyncio.wait_for(second, 5)) == 1


async def test_polling_while_a_webhook_is_set_is_a_conflict(fake: FakeBotApi, bot: Bot) -> None:
    await bot.set_webhook("https://example.com/telegram/webhook", secret_token="s3cret")
    assert (fake.webhook_url, fake.webhook_secret) == (
        "https://example.com/telegram/webhook",
        "s3cret",
    )
    with pytest.raises(TelegramConflictError):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


async def test_texts_replies_and_edits(fake: FakeBotApi, bot: Bot) -> None:
    asked = says(fake, 10, "question")
    sent = await bot.send_message(10, "answer", reply_parameters=ReplyParameters(message_id=asked))
    assert sent.message_id == asked + 1
    assert fake.sent[-1].reply_to == asked
    edited = await bot.edit_message_text("better answer", chat_id=10, message_id=sent.message_id)
    assert not isinstance(edited, bool)
    assert edited.text == "better answer"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("better answer", chat_id=10, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(10, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="replied not found"):
        await bot.send_message(10, "hm", reply_parameters=ReplyParameters(message_id=999))


async def test_uploads_keep_their_bytes_and_files_download(fake: FakeBotApi, bot: Bot) -> None:
    payload = bytes(range(256)) * 100
    sent = await bot.send_document(10, BufferedInputFile(payload, filename="report.bin"))
    assert sent.document is not None
    assert fake.sent[-1].upload is not None
    assert fake.sent[-1].upload.data == payload
    assert fake.sent[-1].upload.filename == "report.bin"
    photo = await bot.send_photo(10, BufferedInputFile(b"\xff\xd8jpeg", filename="a.jpg"))
    assert photo.photo
    buffer = io.BytesIO()
    await bot.download(sent.document.file_id, destination=buffer)
    assert buffer.getvalue() == payload


async def test_files_over_20_mb_cannot_be_fetched(fake: FakeBotApi, bot: Bot) -> None:
    big = fake.add_file(b"x", size=21 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(big.file_id)


async def test_injected_failures_map_to_aiograms_exceptions(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(10, "a")
    assert caught.value.retry_after == 7
    fake.block(11)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(11, "a")
    await bot.send_message(10, "a")  # the failure was used up
    fake.outage(60)
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    fake.end_outage()
    assert (await bot.get_me()).id == 123
    assert [c.status for c in fake.calls_of("sendMessage")] == [429, 403, 200]


async def test_limits_answer_429_with_retry_after() -> None:
    now = [0.0]
    fake = FakeBotApi(limits=Limits(per_bot_per_second=3), clock=lambda: now[0])
    await fake.start()
    strict = client_for(fake.base_url)
    try:
        await strict.send_message(1, "a")
        with pytest.raises(TelegramRetryAfter) as caught:
            await strict.send_message(1, "b")  # the same chat within a second
        assert caught.value.retry_after == 1
        await strict.send_message(2, "c")
        await strict.send_message(3, "d")
        with pytest.raises(TelegramRetryAfter):
            await strict.send_message(4, "e")  # the fourth in a second for the bot
        now[0] = 1.0
        await strict.send_message(4, "e")
        for _ in range(20):
            await strict.send_message(-100, "group")
            now[0] += 1.0
        with pytest.raises(TelegramRetryAfter) as caught:
            await strict.send_message(-100, "21st in a minute")
        assert caught.value.retry_after >= 1
        assert fake.rate_limited == 3
    finally:
        await strict.session.close()
        await fake.close()


async def test_webhooks_are_pushed_in_order_until_acknowledged() -> None:
    received: list[int] = []
    answers = iter([500, 200, 200])

    async def endpoint(request: aiohttp.web.Request) -> aiohttp.web.Response:
        assert request.headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
        body = await request.json()
        status = next(answers)
        if status == 200:
            received.append(body["update_id"])
        return aiohttp.web.Response(status=status)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", endpoint)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake = FakeBotApi(push_webhooks=True)
    await fake.start()
    client = client_for(fake.base_url)
    try:
        first = says(fake, 10, "one")
        says(fake, 10, "two")
        await client.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        await fake.wait_for(lambda: fake.pending_updates == 0)
        assert fake.webhook_responses == [500, 200, 200]
        assert len(received) == 2
        assert received == sorted(received)
        assert first == 1
    finally:
        await client.session.close()
        await fake.close()
        await runner.cleanup()
