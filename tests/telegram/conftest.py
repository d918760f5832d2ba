from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from tests.telegram.fake_bot_api import FakeBotApi

TOKEN = "123:ABC"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi(TOKEN)
    await server.start()
    yield server
    await server.close()


def client_for(base_url: str, token: str = TOKEN) -> Bot:
    """aiogram's real client, pointed at a fake."""
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    client = client_for(fake.base_url)
    yield client
    await client.session.close()
