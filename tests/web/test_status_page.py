"""The customer's status page: an unguessable link, what it shows (never a note, never a
withdrawn reply, never another customer's data), replies and the CSRF check."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.model import Role
from tests.harness import Running, running_bridge
from tests.web.inbox_support import customer_writes, jar

NOTE = "INTERNAL-NOTE refund abuse suspected"
HOSTILE = "Broken <script>window.pwned=1</script><img src=x onerror=alert(1)>"
_FIELD = re.compile(r'name="(csrf|key)" value="([^"]+)"')


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(tmp_path, routing={"acknowledgements": {"enabled": False}}) as b:
        yield b


async def reply(bridge: Running, conversation: int, text: str, *, internal: bool) -> int:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": text, "internal": internal},
        headers=bridge.auth,
    ) as response:
        assert response.status == 201
        return int((await response.json())["message"]["id"])


async def link(bridge: Running, conversation: int) -> str:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/status-link"), headers=bridge.auth
    ) as response:
        assert response.status == 201
        url = str((await response.json())["url"])
    assert url.startswith(bridge.runtime.settings.public_url + "/status/")
    return url.removeprefix(bridge.runtime.settings.public_url)


async def test_the_page_shows_status_agent_and_public_history_only(bridge: Running) -> None:
    conversation = await customer_writes(bridge, "v1", HOSTILE)
    other = await customer_writes(bridge, "v2", "OTHER-CUSTOMER secret order 555")
    path = await link(bridge, conversation)
    token = path.rsplit("/", 1)[1]
    assert len(token) == 32  # 24 random bytes

    async with jar() as http:
        async with http.get(bridge.url(path)) as response:
            assert response.status == 200
            page = await response.text()
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert response.headers["X-Robots-Tag"] == "noindex"
        assert "Waiting for an agent" in page
        assert "You are number 1 in line" in page
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
        assert "<script>window.pwned" not in page
        assert "<img src=x" not in page

    agent, _ = await bridge.add_agent("Marta Alves Pinto", "marta@example.com", Role.AGENT)
    await bridge.runtime.router.assign(conversation, agent)
    await reply(bridge, conversation, NOTE, internal=True)
    await reply(bridge, conversation, "We are looking into it.", internal=False)
    async with jar() as http, http.get(bridge.url(path)) as response:
        page = await response.text()
    assert "Marta is looking after you." in page
    assert "Alves" not in page
    assert "We are looking into it." in page
    assert "INTERNAL-NOTE" not in page
    assert "OTHER-CUSTOMER" not in page
    assert f"#{other}" not in page
    # Only the token's hash is stored.
    stored = await bridge.runtime.storage.database.run_read(
        lambda c: c.exec_driver_sql("SELECT token_hash FROM status_links").scalars().all()
    )
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored


async def test_unknown_tokens_show_nothing(bridge: Running) -> None:
    await customer_writes(bridge)
    for path in ("/status/" + "A" * 32, "/status/short", "/status/" + "x" * 300):
        async with bridge.http.get(bridge.url(path)) as response:
            assert response.status == 404
            assert "not valid" in await response.text()


async def test_a_withdrawn_reply_never_shows(bridge: Running) -> None:
    conversation = await customer_writes(bridge)
    agent = bridge.agent
    posted = await bridge.runtime.service.reply(
        conversation, agent, "WITHDRAWN-REPLY", internal=False, hold_seconds=60
    )
    path = await link(bridge, conversation)
    async with bridge.http.get(bridge.url(path)) as response:
        assert "WITHDRAWN-REPLY" not in await response.text()  # still held back
    assert await bridge.runtime.service.retract(posted.message.id, agent)
    async with bridge.http.get(bridge.url(path)) as response:
        assert "WITHDRAWN-REPLY" not in await response.text()


async def test_the_customer_replies_from_the_page(bridge: Running) -> None:
    conversation = await customer_writes(bridge, "v1", "first")
    path = await link(bridge, conversation)
    async with jar() as http:
        async with http.get(bridge.url(path)) as response:
            fields = dict(_FIELD.findall(await response.text()))
        # Without the CSRF token nothing is stored.
        async with http.post(
            bridge.url(path), data={"text": "sneaky", "key": fields["key"]}
        ) as response:
            assert response.status == 403
        for _ in range(2):  # the same form twice stores one message
            async with http.post(
                bridge.url(path),
                data={"text": "second, from the page", **fields},
                allow_redirects=False,
            ) as response:
                assert response.status == 303
                assert response.headers["Location"] == path + "#latest"
    history = await bridge.runtime.storage.conversations.messages(conversation)
    assert [(m.author.value, m.text) for m in history] == [
        ("customer", "first"),
        ("customer", "second, from the page"),
    ]
    assert history[1].author_id == history[0].author_id  # the same customer
    assert history[1].external_id == f"status-page:{fields['key']}"
    # The agent sees it like any customer message.
    async with bridge.http.get(
        bridge.url(f"/api/conversations/{conversation}"), headers=bridge.auth
    ) as response:
        assert (await response.json())["messages"][1]["text"] == "second, from the page"


async def test_status_tokens_never_reach_the_logs(
    bridge: Running, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    conversation = await customer_writes(bridge)
    path = await link(bridge, conversation)
    async with bridge.http.get(bridge.url(path)) as response:
        assert response.status == 200
    token = path.rsplit("/", 1)[1]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/status/" in logged  # the request was logged, without its token
    assert token not in logged
