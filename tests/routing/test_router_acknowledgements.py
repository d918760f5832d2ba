"""What customers are told by the router on its own: the acknowledgement of a new (or
reopened) conversation, and the answer to "status"."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.routing.router_support import SATURDAY, open_desk


async def test_a_new_conversation_is_acknowledged_once_with_reference_place_and_wait(
    tmp_path: Path,
) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        first = await desk.opens("ana", "Hello, my order has not arrived")
        second = await desk.opens("ben", "Hi, I need help with a refund")
        # More from the same customers is part of the same waiting period: no new promise.
        await desk.write("ana", "It was order 1234")
        await desk.write("ana", "Any news?")

        [to_first] = await desk.bot_texts(first, lead)
        [to_second] = await desk.bot_texts(second, lead)
        body = await desk.conversation(first, lead)

    # Nobody online: the promise is the web chat target, five minutes.
    assert to_first == (
        "Thanks for getting in touch! Your message has reached us, and your reference is "
        f"#{first}. You're number 1 in line, and the expected wait is 5 minutes."
    )
    assert f"#{second}" in to_second
    assert "number 2 in line" in to_second
    assert "5 minutes" in to_second
    [ack] = [m for m in body["messages"] if m["author"] == "bot"]
    assert ack["visibility"] == "public"
    assert ack["author_name"] == "Support"
    assert "delivery" in ack, "an acknowledgement goes out through the outbox"
    assert body["promised_reply_at"] == "2026-01-05T09:05:01+00:00"


async def test_with_an_agent_free_the_wait_is_their_first_reply(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        await desk.staff("Mia Rocha")
        conversation_id = await desk.opens("ana")
        [ack] = await desk.bot_texts(conversation_id, lead)
        assert (await desk.conversation(conversation_id, lead))["status"] == "assigned"
    assert f"#{conversation_id}" in ack
    assert "number 1 in line" in ack
    assert "less than a minute" in ack


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"text": "hello", "language": "ru"},
            "Спасибо, что написали! Мы получили ваше сообщение, номер обращения — #{id}. "
            "Ваше место в очереди: 1. Ожидаемое время ответа: 5 минут.",
        ),
        (
            {"text": "Olá, o meu pedido não chegou"},
            "Obrigado pela sua mensagem, ela chegou até nós! O número do seu atendimento é "
            "#{id}. A sua posição na fila é 1, e o tempo estimado de resposta é de 5 minutos.",
        ),
        (
            {"text": "Здравствуйте, где мой заказ?"},
            "Спасибо, что написали! Мы получили ваше сообщение, номер обращения — #{id}. "
            "Ваше место в очереди: 1. Ожидаемое время ответа: 5 минут.",
        ),
    ],
    ids=["hint-ru", "detected-pt", "detected-ru"],
)
async def test_the_acknowledgement_speaks_the_customers_language(
    tmp_path: Path, message: dict[str, Any], expected: str
) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("ana", message["text"], language=message.get("language"))
        assert await desk.bot_texts(conversation_id, lead) == [expected.format(id=conversation_id)]


async def test_no_acknowledgement_when_the_channel_forbids_auto_replies(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("ana", "Out of office", auto_reply_allowed=False)
        assert await desk.bot_texts(conversation_id, lead) == []
        body = await desk.conversation(conversation_id, lead)
        assert body["promised_reply_at"] is None
        assert body["status"] == "queued"


async def test_no_acknowledgement_when_they_are_turned_off(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing={"acknowledgements": {"enabled": False}}) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("ana")
        assert await desk.bot_texts(conversation_id, lead) == []


async def test_at_most_three_acknowledgements_per_customer_per_hour(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        # One customer (one sender id on the channel) opening a conversation on four threads.
        first_at = desk.clock.now() + timedelta(seconds=60)
        ids = [
            await desk.opens(f"tab-{n}", "hello", sender_id="visitor-42", after=60)
            for n in range(4)
        ]
        customers = {(await desk.conversation(c, lead))["customer_id"] for c in ids}
        assert len(customers) == 1
        told = [len(await desk.bot_texts(c, lead)) for c in ids]
        assert told == [1, 1, 1, 0]
        # Somebody else is not affected.
        other = await desk.opens("someone-else")
        assert len(await desk.bot_texts(other, lead)) == 1
        # Just under an hour after the first one, still none; just after it, one more.
        desk.clock.set(first_at + timedelta(minutes=59, seconds=58))
        fifth = await desk.opens("tab-5", "hello", sender_id="visitor-42", after=1)
        assert len(await desk.bot_texts(fifth, lead)) == 0
        desk.clock.set(first_at + timedelta(hours=1))
        sixth = await desk.opens("tab-6", "hello", sender_id="visitor-42", after=1)
        assert len(await desk.bot_texts(sixth, lead)) == 1


async def test_the_hourly_cap_is_a_setting(tmp_path: Path) -> None:
    routing = {"acknowledgements": {"max_per_customer_per_hour": 1}}
    async with open_desk(tmp_path, routing=routing) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        ids = [await desk.opens(f"tab-{n}", sender_id="visitor-42") for n in range(2)]
        assert [len(await desk.bot_texts(c, lead)) for c in ids] == [1, 0]


async def test_a_reopened_conversation_is_acknowledged_only_after_a_quiet_period(
    tmp_path: Path,
) -> None:
    async with open_desk(tmp_path) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        conversation_id = await desk.opens("ana")
        assert (await desk.take_next(mia)).status == 200
        await desk.reply(conversation_id, mia, "It ships today. Anything else?")
        await desk.resolve(conversation_id, mia)

        # The customer answers right after the agent: no robot interrupts the conversation.
        reopened = await desk.write("ana", "Thanks! One more thing", after=120)
        assert reopened.reopened
        assert reopened.conversation.id == conversation_id
        assert len(await desk.bot_texts(conversation_id, mia)) == 1

        # Resolved again, and the customer comes back much later: acknowledged again.
        await desk.reply(conversation_id, mia, "Sure, what is it?")
        await desk.resolve(conversation_id, mia)
        again = await desk.write("ana", "I forgot to ask about returns", after=301)
        assert again.reopened
        texts = await desk.bot_texts(conversation_id, mia)
        assert len(texts) == 2
        assert f"#{conversation_id}" in texts[1]
        assert "number 1 in line" in texts[1]


async def test_the_quiet_period_is_a_setting(tmp_path: Path) -> None:
    routing = {"acknowledgements": {"quiet_after_agent_reply": 30}}
    async with open_desk(tmp_path, routing=routing) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        conversation_id = await desk.opens("ana")
        await desk.take_next(mia)
        await desk.reply(conversation_id, mia, "Done.")
        await desk.resolve(conversation_id, mia)
        await desk.write("ana", "one more question", after=31)
        assert len(await desk.bot_texts(conversation_id, mia)) == 2


CLOSED_ON_WEEKENDS: dict[str, Any] = {
    "teams": {"support": {"timezone": "Europe/Lisbon", "always_open": False}}
}


async def test_outside_business_hours_the_customer_learns_when_the_team_is_back(
    tmp_path: Path,
) -> None:
    async with open_desk(tmp_path, start=SATURDAY, routing=CLOSED_ON_WEEKENDS) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("ana", "Hello, is anybody there?")
        [ack] = await desk.bot_texts(conversation_id, lead)
        body = await desk.conversation(conversation_id, lead)
        portuguese = await desk.opens("rui", "Olá, o meu pedido não chegou")
        [ack_pt] = await desk.bot_texts(portuguese, lead)

    assert ack == (
        "Thanks for getting in touch! Your message has reached us, and your reference is "
        f"#{conversation_id}. Our team is away right now and will be back Monday at 09:00 "
        "(Lisbon, UTC); we'll pick up your conversation as soon as we're in."
    )
    assert "voltamos segunda-feira às 09:00" in ack_pt
    # The promise counts open time only: the five minutes start when the team opens
    # (Monday 09:00 in Lisbon, which is 09:00 UTC in January).
    opening = datetime.fromisoformat("2026-01-12T09:00:00+00:00")
    promised = datetime.fromisoformat(body["promised_reply_at"])
    assert promised > opening
    assert promised == datetime.fromisoformat("2026-01-12T09:05:00+00:00")


async def test_within_business_hours_the_usual_acknowledgement(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=CLOSED_ON_WEEKENDS) as desk:  # a Monday, 09:00
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("ana")
        [ack] = await desk.bot_texts(conversation_id, lead)
    assert "number 1 in line" in ack
    assert "will be back" not in ack


# --- "status" ------------------------------------------------------------------------------


async def test_a_chat_customer_asking_status_gets_the_place_in_line(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        await desk.opens("ana")
        conversation_id = await desk.opens("ben")
        await desk.write("ben", "status")
        texts = await desk.bot_texts(conversation_id, lead)
        assert len(texts) == 2
        assert texts[1] == (
            f"An update on #{conversation_id}: you're number 2 in line, and the expected wait "
            "is 5 minutes. Thanks for bearing with us!"
        )

        # Within the interval (60 s), asking again gets nothing.
        await desk.write("ben", "status?", after=30)
        assert len(await desk.bot_texts(conversation_id, lead)) == 2
        # After it, in Russian when asked in Russian.
        await desk.write("ben", "статус", after=31)
        texts = await desk.bot_texts(conversation_id, lead)
        assert len(texts) == 3
        assert texts[2].startswith(f"Обращение #{conversation_id} в очереди, ваше место — 2.")


async def test_once_assigned_status_names_the_agent(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        mia = await desk.staff("Mia Rocha Santos")
        conversation_id = await desk.opens("ana")
        await desk.write("ana", "/status", after=5)
        texts = await desk.bot_texts(conversation_id, mia)
    assert len(texts) == 2
    assert texts[1] == (
        f"Good news: Mia has picked up your conversation #{conversation_id} and will reply "
        "right here."
    )


async def test_status_inside_a_longer_message_is_just_a_message(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("ana")
        await desk.write("ana", "what is the status of my order please")
        assert len(await desk.bot_texts(conversation_id, lead)) == 1


async def test_the_status_interval_is_a_setting(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing={"acknowledgements": {"status_interval": 10}}) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("ana")
        await desk.write("ana", "status")
        await desk.write("ana", "status", after=11)
        assert len(await desk.bot_texts(conversation_id, lead)) == 3


async def test_email_customers_get_no_status_replies(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        conversation_id = await desk.opens("<root@example.com>", "Order missing", channel="email")
        [ack] = await desk.bot_texts(conversation_id, lead)
        assert "about 12 hours" in ack  # the email target
        await desk.write("<root@example.com>", "status", channel="email", after=120)
        assert await desk.bot_texts(conversation_id, lead) == [ack]


async def test_channels_without_a_live_view_get_a_link_to_the_status_page(
    tmp_path: Path,
) -> None:
    async with open_desk(tmp_path) as desk:
        lead = await desk.staff("Lea Lead", presence="away")
        by_mail = await desk.opens("ana@example.com", "Hello", channel="email", language="pt")
        in_chat = await desk.opens("ben", "Hello")
        [to_mail] = await desk.bot_texts(by_mail, lead)
        [to_chat] = await desk.bot_texts(in_chat, lead)
        link = to_mail.rsplit(" ", 1)[-1]
        path = "/status/" + link.split("/status/", 1)[-1]  # on the test server's own port
        async with desk.bridge.http.get(desk.bridge.url(path)) as response:
            page = await response.text()
    assert "Você pode acompanhar a conversa e responder aqui: http://" in to_mail
    assert "/status/" in link
    assert response.status == 200
    assert f"#{by_mail}" in page
    assert "/status/" not in to_chat  # the web chat shows its status live
