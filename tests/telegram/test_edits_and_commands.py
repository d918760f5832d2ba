"""Edits both ways, and the commands the bot answers itself."""

from __future__ import annotations

from pathlib import Path

from tests.telegram.bridge import telegram_bridge
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import edits, says, user
from tests.telegram.waiting import (
    CHAT,
    conversation_id,
    conversation_json,
    messages_of,
    reply,
    until,
)


async def test_a_customers_edit_changes_the_message_and_keeps_its_history(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        first = says(fake, CHAT, "My order #55 is late")
        conversation = await conversation_id(bridge)
        await messages_of(bridge, conversation, 1)
        edits(fake, CHAT, first, "My order #56 is late")

        async def edited() -> dict[str, object] | None:
            [message] = (await conversation_json(bridge, conversation))["messages"]
            return message if message["edited"] else None

        message = await until(bridge, edited)
        assert message["text"] == "My order #56 is late"
        assert [e["previous_text"] for e in message["edits"]] == ["My order #55 is late"]  # type: ignore[attr-defined]
        # An edit of something never stored (here a command) changes nothing and stops nothing.
        command = says(fake, CHAT, "/help")
        edits(fake, CHAT, command, "/help me")
        says(fake, CHAT, "still there?")
        messages = await messages_of(bridge, conversation, 2)
        assert [m["text"] for m in messages] == ["My order #56 is late", "still there?"]


async def test_an_agents_edit_becomes_edit_message_text(tmp_path: Path, fake: FakeBotApi) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        says(fake, CHAT, "When do you open?")
        conversation = await conversation_id(bridge)
        posted = await reply(bridge, conversation, "We open at 9.")
        await fake.wait_for(lambda: bool(fake.sent_to(CHAT)))
        sent = fake.sent_to(CHAT)[0]

        async def delivered() -> bool:
            body = await conversation_json(bridge, conversation)
            return any(
                m["id"] == posted["message"]["id"] and m["delivery"]["state"] == "sent"
                for m in body["messages"]
            )

        await until(bridge, delivered)
        url = f"/api/conversations/{conversation}/messages/{posted['message']['id']}"
        async with bridge.http.patch(
            bridge.url(url), json={"text": "We open at 10."}, headers=bridge.auth
        ) as response:
            assert response.status == 200, await response.text()
        await fake.wait_for(lambda: sent.edits == ["We open at 10."])
        edit = fake.calls_of("editMessageText")[0]
        assert (edit.params["chat_id"], edit.params["message_id"]) == (CHAT, sent.message_id)
        assert len(fake.sent_to(CHAT)) == 1  # changed in place, not sent again


async def test_start_welcomes_without_opening_a_conversation(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        says(fake, CHAT, "/start")
        await fake.wait_for(lambda: bool(fake.sent_to(CHAT)))
        welcome = fake.sent_to(CHAT)[0].text
        assert welcome.startswith("Hello! You've reached our support team.")
        # Nobody is online: what a newcomer is promised is Telegram's first-response target.
        assert welcome.endswith("The expected wait right now is 15 minutes.")
        page = await bridge.runtime.storage.conversations.list_conversations()
        assert page.items == ()


async def test_status_tells_the_place_in_line_then_who_is_on_it(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        says(fake, CHAT, "I need help with my bill")
        conversation = await conversation_id(bridge)
        says(fake, CHAT, "/status")
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 1)
        assert fake.sent_to(CHAT)[0].text.startswith(
            f"Your conversation #{conversation} is number 1 in line."
        )
        async with bridge.http.patch(
            bridge.url("/api/agents/me"), json={"presence": "online"}, headers=bridge.auth
        ) as response:
            assert response.status == 200

        async def assigned() -> bool:
            body = await conversation_json(bridge, conversation)
            return body["status"] == "assigned"

        await until(bridge, assigned)
        says(fake, CHAT, "/status@support_test_bot")
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 2)
        assert fake.sent_to(CHAT)[1].text == (
            f"Bea is handling your conversation #{conversation} and will answer here."
        )
        says(fake, CHAT, "/start")
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 3)
        assert "Bea is handling" in fake.sent_to(CHAT)[2].text
        # The commands were answered, not stored as messages for agents.
        messages = await messages_of(bridge, conversation, 1)
        assert [m["text"] for m in messages] == ["I need help with my bill"]


async def test_help_in_the_customers_language(tmp_path: Path, fake: FakeBotApi) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        says(fake, CHAT, "/help", sender=user(CHAT, "Иван", "ru"))
        says(fake, 7002, "/help", sender=user(7002, "Rui", "pt-PT"))
        says(fake, 7003, "/help", sender=user(7003, "Kim", "ko"))
        await fake.wait_for(lambda: len(fake.sent) == 3)
        assert fake.sent_to(CHAT)[0].text.startswith("Просто напишите свой вопрос")
        assert fake.sent_to(7002)[0].text.startswith("Basta escrever a sua pergunta")
        assert fake.sent_to(7003)[0].text.startswith("Just write your question")
        assert (await bridge.runtime.storage.conversations.list_conversations()).items == ()


async def test_a_status_word_as_a_message_gets_one_answer_from_the_router(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake, acknowledgements=True) as bridge:
        says(fake, CHAT, "My card was charged twice")
        conversation = await conversation_id(bridge)
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 1)  # the acknowledgement
        says(fake, CHAT, "status")
        await messages_of(bridge, conversation, 3)  # the question and the router's answer
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 2)
        assert "number 1 in line" in fake.sent_to(CHAT)[1].text
        says(fake, CHAT, "thanks")
        await messages_of(bridge, conversation, 4)
        assert len(fake.sent_to(CHAT)) == 2
