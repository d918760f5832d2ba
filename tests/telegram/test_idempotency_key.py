"""Each part of a delivery carries a stable idempotency key to the Bot API
(``X-Bridge-Idempotency-Key``), so a server that deduplicates drops the part a crash between
Telegram's answer and the sender's record would send twice. The fake honours the key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer

from bridge.errors import TransientChannelError
from channels.telegram.session import KeyedSession
from tests.telegram.conftest import TOKEN
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.test_sender import CHAT, MemoryLinks, outbound, sender

KEY = "m41:telegram:default:7001"


class ForgetfulLinks(MemoryLinks):
    """A store that loses every record of sent parts: the crash right after Telegram's answer."""

    async def put_links(
        self, source: str, kind: str, pairs: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        del source, kind, pairs, now


@pytest.fixture
async def keyed_bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=KeyedSession(api=TelegramAPIServer.from_base(fake.base_url)))
    yield bot
    await bot.session.close()


async def test_every_part_carries_its_key_and_a_repeat_is_not_sent_again(
    fake: FakeBotApi, keyed_bot: Bot
) -> None:
    text = "a" * 4000 + "\n\n" + "b" * 200
    first = await sender(keyed_bot, ForgetfulLinks()).send(outbound(text))
    assert [c.key for c in fake.calls_of("sendMessage")] == [f"{KEY}:0", f"{KEY}:1"]
    # Another attempt of the same delivery that knows nothing of the first (another process,
    # after a crash): the same keys go out, the fake answers with the first results.
    again = await sender(keyed_bot, ForgetfulLinks()).send(outbound(text))
    calls = fake.calls_of("sendMessage")
    assert [c.key for c in calls] == [f"{KEY}:0", f"{KEY}:1"] * 2
    assert [c.repeated for c in calls] == [False, False, True, True]
    assert fake.repeated_keys == 2
    assert [(m.text[0], m.key) for m in fake.sent_to(CHAT)] == [
        ("a", f"{KEY}:0"),
        ("b", f"{KEY}:1"),
    ]
    assert again == first
    # Another delivery's parts have keys of their own.
    await sender(keyed_bot, ForgetfulLinks()).send(outbound("next", message_id=42))
    assert fake.calls_of("sendMessage")[-1].key == "m42:telegram:default:7001:0"
    assert len(fake.sent_to(CHAT)) == 3


async def test_a_part_refused_before_is_sent_by_the_retry_under_the_same_key(
    fake: FakeBotApi, keyed_bot: Bot
) -> None:
    fake.fail("sendMessage", 502, "Bad Gateway")
    with pytest.raises(TransientChannelError):
        await sender(keyed_bot, MemoryLinks()).send(outbound("hello"))
    await sender(keyed_bot, MemoryLinks()).send(outbound("hello"))
    calls = fake.calls_of("sendMessage")
    assert [(c.key, c.status, c.repeated) for c in calls] == [
        (f"{KEY}:0", 502, False),
        (f"{KEY}:0", 200, False),
    ]
    assert [m.text for m in fake.sent_to(CHAT)] == ["hello"]
    assert fake.repeated_keys == 0


async def test_calls_outside_a_send_carry_no_key(fake: FakeBotApi, keyed_bot: Bot) -> None:
    await sender(keyed_bot, MemoryLinks()).say(CHAT, "a command's answer")
    await keyed_bot.get_me()
    assert [c.key for c in fake.calls] == [None, None]
