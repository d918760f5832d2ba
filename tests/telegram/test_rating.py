"""CSAT on Telegram: after a resolve the rating request comes with 1-5 buttons, and a tap
records the rating."""

from __future__ import annotations

from pathlib import Path

from tests.telegram.bridge import telegram_bridge
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import says, user
from tests.telegram.waiting import CHAT, conversation_id


def taps(fake: FakeBotApi, chat_id: int, message_id: int, data: str) -> None:
    fake.push_update(
        {
            "callback_query": {
                "id": f"cb-{message_id}-{data}",
                "from": user(chat_id, language="ru"),
                "chat_instance": "ci-1",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": 1_700_000_000,
                    "chat": {"id": chat_id, "type": "private"},
                    "text": "rating request",
                },
            }
        }
    )


async def test_a_rating_request_has_buttons_and_a_tap_records_the_rating(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake, web={"csat_enabled": True}) as bridge:
        says(fake, CHAT, "My parcel is late")
        conversation = await conversation_id(bridge)
        url = bridge.url(f"/api/conversations/{conversation}/resolve")
        async with bridge.http.post(url, headers=bridge.auth) as response:
            assert response.status == 200
        await fake.wait_for(lambda: any(m.reply_markup for m in fake.sent_to(CHAT)))
        [request] = [m for m in fake.sent_to(CHAT) if m.reply_markup]
        buttons = request.reply_markup["inline_keyboard"][0]  # type: ignore[index]
        assert [b["text"] for b in buttons] == [f"{n} ⭐" for n in range(1, 6)]
        data = buttons[3]["callback_data"]
        assert data.startswith("rate:")
        assert data.endswith(":4")
        assert len(data.encode()) <= 64  # Telegram's limit for callback data

        taps(fake, CHAT, request.message_id, data)
        await fake.wait_for(lambda: bool(fake.calls_of("answerCallbackQuery")))
        answer = fake.calls_of("answerCallbackQuery")[0]
        assert answer.params["text"] == "Спасибо за оценку!"
        rating = await bridge.runtime.storage.feedback.rating_of(conversation)
        assert rating is not None
        assert rating.rating == 4

        # A forged token records nothing and is answered politely.
        taps(fake, CHAT, request.message_id, "rate:" + "A" * 32 + ":1")
        await fake.wait_for(lambda: len(fake.calls_of("answerCallbackQuery")) == 2)
        assert "неактуален" in fake.calls_of("answerCallbackQuery")[1].params["text"]
        again = await bridge.runtime.storage.feedback.rating_of(conversation)
        assert again is not None
        assert again.rating == 4
