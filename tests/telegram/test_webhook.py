"""Webhook mode: setWebhook at start, updates pushed to POST /telegram/webhook and answered
200 once committed; a wrong secret 401, a malformed body 400, an unknown kind 200."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Running
from tests.telegram.bridge import telegram_bridge
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import message, says
from tests.telegram.waiting import CHAT, conversation_id, messages_of, reply

SECRET = "s3cret-Token_1"
WEBHOOK = {"mode": "webhook", "webhook_secret": SECRET}


@pytest.fixture
async def pushing() -> AsyncIterator[FakeBotApi]:
    """A fake that pushes updates to the webhook, as Telegram does."""
    server = FakeBotApi(push_webhooks=True)
    await server.start()
    yield server
    await server.close()


async def post(bridge: Running, body: bytes | dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    data = body if isinstance(body, bytes) else None
    json_body = body if isinstance(body, dict) else None
    async with bridge.http.post(
        bridge.url("/telegram/webhook"), data=data, json=json_body, headers=headers
    ) as response:
        return response.status


async def test_updates_pushed_to_the_webhook_start_a_conversation(
    tmp_path: Path, pushing: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, pushing, telegram=WEBHOOK) as bridge:
        [registered] = pushing.calls_of("setWebhook")
        assert registered.params["url"] == str(bridge.url("/telegram/webhook"))
        assert registered.params["secret_token"] == SECRET
        assert registered.params["allowed_updates"] == [
            "message",
            "edited_message",
            "callback_query",
        ]
        assert not pushing.calls_of("getUpdates")

        says(pushing, CHAT, "hello through the webhook")
        says(pushing, CHAT, "and again")
        conversation = await conversation_id(bridge)
        texts = [m["text"] for m in await messages_of(bridge, conversation, 2)]
        assert texts == ["hello through the webhook", "and again"]
        await pushing.wait_for(lambda: pushing.pending_updates == 0)
        assert pushing.webhook_responses == [200, 200]

        await reply(bridge, conversation, "Hello from an agent")
        await pushing.wait_for(lambda: bool(pushing.sent_to(CHAT)))
        assert pushing.sent_to(CHAT)[0].text == "Hello from an agent"


async def test_bad_calls_are_refused_and_unknown_kinds_acknowledged(
    tmp_path: Path, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="channels.telegram")
    async with telegram_bridge(tmp_path, fake, telegram=WEBHOOK) as bridge:
        update = {"update_id": 5000, "message": message(fake, CHAT, text="hi")}
        assert await post(bridge, update, secret=None) == 401
        assert await post(bridge, update, secret="wrong") == 401
        assert await post(bridge, b"{not json") == 400
        assert await post(bridge, {"message": update["message"]}) == 400  # no update_id
        assert await post(bridge, {"update_id": "5000"}) == 400
        assert await post(bridge, {"update_id": 5001, "message": {"text": "no ids"}}) == 400
        assert await post(bridge, {"update_id": 5002, "some_future_kind": {"x": 1}}) == 200
        assert "update kind some_future_kind is not handled" in caplog.text
        assert await post(bridge, {"update_id": 5003, "callback_query": {"id": "1"}}) == 200

        assert await post(bridge, update) == 200
        assert await post(bridge, update) == 200  # Telegram retrying: stored once
        conversation = await conversation_id(bridge)
        assert [m["text"] for m in await messages_of(bridge, conversation, 1)] == ["hi"]
        # The refusals were the webhook's own: nothing was stored for them.
        page = await bridge.runtime.storage.conversations.list_conversations()
        assert len(page.items) == 1


async def test_the_webhook_route_is_not_open_in_polling_mode(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        update = {"update_id": 1, "message": message(fake, CHAT, text="hi")}
        assert await post(bridge, update) == 404
