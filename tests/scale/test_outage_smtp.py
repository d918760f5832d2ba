"""SMTP down: the outgoing mail server stops for a while. Agents' replies wait in the outbox
as transient failures, ``/readyz`` shows email degraded, the inbox lists the replies that
wait and why; mail keeps coming in over IMAP. When the server is back on its port, the
replies go out exactly once, in order, with nobody doing anything."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.model import Author
from tests.email.rig import customer_mail, mail_in
from tests.email.servers import CUSTOMER, SUPPORT, Dovecot, SmtpSink
from tests.harness import Running, running_bridge
from tests.scale.outages import component, until, waiting

EMAIL = "channel:email:default"
ROUNDS = 3


def body_of(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).strip()


async def reply(bridge: Running, conversation: int, text: str) -> None:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": text, "internal": False},
        headers=bridge.auth,
    ) as response:
        assert response.status == 201, await response.text()


async def customer_texts(bridge: Running, conversation: int) -> list[str]:
    messages = await bridge.runtime.storage.conversations.messages(conversation)
    return [m.text.strip() for m in messages if m.author is Author.CUSTOMER]


@pytest.mark.timeout(90)
async def test_smtp_down_replies_wait_and_go_out_once_when_it_is_back(
    tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    email = dovecot.settings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none")
    async with running_bridge(
        tmp_path,
        channels={"email": email},
        routing={"acknowledgements": {"enabled": False}},
        # Quick retries, and enough of them that the outage cannot make a reply dead.
        outbox={"retry_initial": 0.2, "retry_max": 1.0, "max_attempts": 200},
    ) as bridge:
        adapter = bridge.runtime.adapters["email:default"]
        await adapter.watcher.wait_passes(1)  # type: ignore[attr-defined]
        await mail_in(smtp, customer_mail("My order has not arrived.", message_id="c0@example.net"))

        async def first_conversation() -> int | None:
            page = await bridge.runtime.storage.conversations.list_conversations()
            return page.items[0].id if page.items else None

        conversation = await until(first_conversation, what="the customer's mail stored")
        await reply(bridge, conversation, "answer 0")
        await smtp.wait_for(2)  # the customer's mail, then our answer
        assert (await component(bridge.http, bridge.base_url, EMAIL))["health"] == "ok"

        port = smtp.port
        await smtp.stop()
        before = len(smtp.received)
        for n in range(1, ROUNDS + 1):
            await reply(bridge, conversation, f"answer {n}")
        # Mail still comes in: the MTA delivers into the mailbox, the bridge reads it (IMAP).
        follow = customer_mail(
            "Any news?", message_id="c1@example.net", in_reply_to="c0@example.net"
        )
        dovecot.deliver(SUPPORT, follow.as_bytes())

        async def degraded() -> dict[str, str] | None:
            state = await component(bridge.http, bridge.base_url, EMAIL)
            return state if state["health"] == "degraded" else None

        state = await until(degraded, what="/readyz shows email degraded")
        assert "SMTP" in state["detail"]

        async def all_wait() -> dict[str, object] | None:
            body = await waiting(bridge.http, bridge.base_url, bridge.auth)
            found = [d for d in body["destinations"] if d["channel"] == "email"]
            return found[0] if found and found[0]["count"] == ROUNDS else None

        listed = await until(all_wait, what="the inbox lists every reply waiting")
        assert str(listed["reason"]).startswith("SMTP")
        assert listed["conversation_ids"] == [conversation]
        items = (await waiting(bridge.http, bridge.base_url, bridge.auth))["items"]
        assert [i["conversation_id"] for i in items] == [conversation] * ROUNDS
        assert items[0]["attempts"] >= 1

        async def followed_up() -> bool:
            texts = await customer_texts(bridge, conversation)
            return len(texts) == 2 and texts[1] == "Any news?"

        await until(followed_up, what="mail read while SMTP is down")

        async def retried() -> bool:
            items = (await waiting(bridge.http, bridge.base_url, bridge.auth))["items"]
            return bool(items) and items[0]["attempts"] >= 4  # two rounds against the port

        await until(retried, what="the outbox retrying by itself")
        assert len(smtp.received) == before

        # The server is back on its port; nobody touches the bridge.
        await smtp.start(port)
        await smtp.wait_for(before + ROUNDS)

        async def clear() -> bool:
            state = await component(bridge.http, bridge.base_url, EMAIL)
            body = await waiting(bridge.http, bridge.base_url, bridge.auth)
            return state["health"] == "ok" and body["total"] == 0

        await until(clear, what="/readyz and the inbox clear")
        sent = smtp.to(CUSTOMER)
        answers = [body_of(r.message) for r in sent]
        assert answers == [f"answer {n}" for n in range(ROUNDS + 1)]
        assert len({r.message["Message-ID"] for r in sent}) == len(sent)
        deliveries = await bridge.runtime.storage.conversations.deliveries_for(conversation)
        assert [d.state for d in deliveries] == ["sent"] * (ROUNDS + 1)
        assert max(d.attempts for d in deliveries) > 1  # they were really retried
