"""A customer and an agent talk through the whole bridge, aiogram against the fake Bot API."""

from __future__ import annotations

from pathlib import Path

from bridge.ports import Health
from tests.telegram.bridge import adapter_of, telegram_bridge
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import says, user
from tests.telegram.waiting import CHAT, conversation_id, conversation_json, messages_of, reply

ANA = {**user(CHAT, "Ana", "pt-br"), "last_name": "Lima", "username": "analima"}


async def test_a_full_conversation(tmp_path: Path, fake: FakeBotApi) -> None:
    async with telegram_bridge(tmp_path, fake, acknowledgements=True) as bridge:
        assert adapter_of(bridge.runtime).state().health is Health.OK
        assert fake.calls_of("deleteWebhook")  # polling mode clears a webhook left behind
        first = says(fake, CHAT, "A minha encomenda não chegou", sender=ANA)

        # The router's acknowledgement reaches the customer, in their language.
        await fake.wait_for(lambda: bool(fake.sent_to(CHAT)))
        conversation = await conversation_id(bridge)
        acknowledgement = fake.sent_to(CHAT)[0]
        assert f"#{conversation}" in acknowledgement.text
        assert "fila" in acknowledgement.text
        assert acknowledgement.parse_mode is None

        body = await conversation_json(bridge, conversation)
        assert body["channel"] == "telegram"
        assert body["customer"]["display_name"] == "Ana Lima (@analima)"
        assert body["customer"]["language"] == "pt-br"
        assert body["customer"]["identities"] == [
            {"channel": "telegram", "external_id": str(CHAT), "verified": False}
        ]
        customer = body["messages"][0]
        assert (customer["author"], customer["text"]) == (
            "customer",
            "A minha encomenda não chegou",
        )

        await reply(bridge, conversation, "VIP: check the warehouse first", internal=True)
        await reply(bridge, conversation, "Vamos verificar já. *Obrigado* <pela paciência>!")
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 2)
        answer = fake.sent_to(CHAT)[1]
        # Plain text: what the agent typed, markup characters and all.
        assert answer.text == "Vamos verificar já. *Obrigado* <pela paciência>!"
        assert answer.reply_to is None
        assert answer.message_id > first

        # The customer answers back: the same conversation, not a new one.
        says(fake, CHAT, "Obrigada!", sender=ANA)
        messages = await messages_of(bridge, conversation, 5)
        assert [(m["author"], m["visibility"]) for m in messages] == [
            ("customer", "public"),
            ("bot", "public"),
            ("agent", "internal"),
            ("agent", "public"),
            ("customer", "public"),
        ]
        assert await conversation_id(bridge) == conversation

        # The note never went anywhere near Telegram.
        assert all("VIP" not in str(call.params) for call in fake.calls)


async def test_an_agent_answers_a_particular_message(tmp_path: Path, fake: FakeBotApi) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        asked = says(fake, CHAT, "Where is my parcel?")
        says(fake, CHAT, "And can I change the address?")
        conversation = await conversation_id(bridge)
        messages = await messages_of(bridge, conversation, 2)
        await reply(bridge, conversation, "It is on its way.", reply_to_id=messages[0]["id"])
        await fake.wait_for(lambda: bool(fake.sent_to(CHAT)))
        assert fake.sent_to(CHAT)[0].reply_to == asked


async def test_a_long_reply_is_split_at_4096_characters_in_order(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        says(fake, CHAT, "Tell me everything")
        conversation = await conversation_id(bridge)
        paragraphs = [f"{n} " + "x" * 2500 for n in range(4)]
        posted = await reply(bridge, conversation, "\n\n".join(paragraphs))
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 4)
        assert [m.text for m in fake.sent_to(CHAT)] == paragraphs
        body = await conversation_json(bridge, conversation)
        sent = next(m for m in body["messages"] if m["id"] == posted["message"]["id"])
        assert sent["delivery"]["state"] == "sent"


async def test_groups_are_off_by_default_and_per_member_when_on(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    group = -1001234567890
    async with telegram_bridge(tmp_path / "off", fake) as bridge:
        says(fake, group, "hello from a group", sender=user(7002))
        says(fake, CHAT, "hello in private")
        await conversation_id(bridge)  # the private message arrived, so the group one was read
        page = await bridge.runtime.storage.conversations.list_conversations()
        assert len(page.items) == 1
    async with telegram_bridge(tmp_path / "on", fake, telegram={"groups": True}) as bridge:
        says(fake, group, "member one", sender=user(7002))
        says(fake, group, "member two", sender=user(7003))
        first = await conversation_id(bridge, f"{group}:7002")
        second = await conversation_id(bridge, f"{group}:7003")
        assert first != second
        await reply(bridge, first, "Hi, member one")
        await fake.wait_for(lambda: bool(fake.sent_to(group)))
        assert fake.sent_to(group)[0].text == "Hi, member one"
