"""The inbox over HTTP: lists, search and filters, the conversation view, the forms."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bridge.model import ThreadRef
from tests.factories import inbound
from tests.harness import Running, running_bridge
from tests.web.inbox_support import Browser, customer_writes, sign_in

HOSTILE = 'Late again <script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(tmp_path, routing={"acknowledgements": {"enabled": False}}) as b:
        yield b


@pytest.fixture
async def browser(bridge: Running) -> AsyncIterator[Browser]:
    signed_in = await sign_in(bridge)
    yield signed_in
    await signed_in.close()


async def test_the_queue_in_order_with_waits_and_targets(bridge: Running, browser: Browser) -> None:
    first = await customer_writes(bridge, "v1", "first!", name="Ana Lima")
    second = await customer_writes(bridge, "v2", "second!", name="Bruno Costa")
    status, page = await browser.page("/inbox")
    assert status == 200
    queue = page[page.index('id="queue-list"') : page.index('id="mine-heading"')]
    assert queue.index(f"#{first}") < queue.index(f"#{second}")
    assert "Ana Lima" in queue
    assert "Bruno Costa" in queue
    assert 'data-testid="queue-length" id="queue-length">2<' in page
    assert queue.count("data-since=") == 2
    assert queue.count("data-due=") == 2  # the countdown to the response target
    async with browser.http.get(browser.url("/api/inbox/lists")) as response:
        lists = await response.json()
    assert [r["id"] for r in lists["queue"]] == [first, second]
    assert lists["queue"][0]["due"]
    assert lists["queue"][0]["waiting_since"]


async def test_take_next_reply_and_note_through_the_forms(
    bridge: Running, browser: Browser
) -> None:
    conversation = await customer_writes(bridge, "v1", "where is my parcel?")
    response = await browser.form("/inbox/take-next", {})
    assert response.status == 303
    assert response.headers["Location"] == f"/inbox?c={conversation}#conversation"
    taken = await bridge.runtime.storage.conversations.get_conversation(conversation)
    assert taken.assignee_id == bridge.agent.id

    form = aiohttp.FormData()
    form.add_field("csrf", browser.csrf)
    form.add_field("key", "k-note-000000000001")
    form.add_field("mode", "note")
    form.add_field("text", "VIP, be nice")
    async with browser.http.post(
        browser.url(f"/inbox/conversations/{conversation}/messages"),
        data=form,
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        assert "mode=note" in response.headers["Location"]
    form = aiohttp.FormData()
    form.add_field("csrf", browser.csrf)
    form.add_field("key", "k-reply-00000000001")
    form.add_field("mode", "reply")
    form.add_field("text", "It is on its way, see the label")
    form.add_field("files", b"%PDF-1.4 label", filename="label.pdf", content_type="application/pdf")
    async with browser.http.post(
        browser.url(f"/inbox/conversations/{conversation}/messages"),
        data=form,
        allow_redirects=False,
    ) as response:
        assert response.status == 303
    history = await bridge.runtime.storage.conversations.messages(conversation)
    assert [(m.author.value, m.visibility.value, m.text) for m in history] == [
        ("customer", "public", "where is my parcel?"),
        ("agent", "internal", "VIP, be nice"),
        ("agent", "public", "It is on its way, see the label"),
    ]
    assert [a.name for a in history[2].attachments] == ["label.pdf"]
    _status, page = await browser.page(f"/inbox?c={conversation}")
    note = page[page.index(f'data-id="{history[1].id}"') :]
    note = note[: note.index("</li>")]
    assert 'class="message note"' in page
    assert "Internal note" in note
    assert 'class="lock"' in note
    assert "label.pdf" in page
    # The mode switch: "Reply" and "Internal note" are both there, Reply checked by default.
    assert 'id="mode-reply" checked' in page
    _status, page = await browser.page(f"/inbox?c={conversation}&mode=note")
    assert 'id="mode-note" checked' in page


async def test_a_message_needs_an_explicit_mode(bridge: Running, browser: Browser) -> None:
    conversation = await customer_writes(bridge)
    response = await browser.form(
        f"/inbox/conversations/{conversation}/messages", {"text": "hello"}
    )
    assert response.status == 303
    history = await bridge.runtime.storage.conversations.messages(conversation)
    assert len(history) == 1
    _status, page = await browser.page(response.headers["Location"])
    assert "choose Reply or Internal note" in page


async def test_customer_text_is_escaped_everywhere_in_the_inbox(
    bridge: Running, browser: Browser
) -> None:
    conversation = await customer_writes(bridge, "v1", HOSTILE, name="<b>Evil</b> Ana")
    for path in ("/inbox", f"/inbox?c={conversation}", "/inbox?q=Late"):
        status, page = await browser.page(path)
        assert status == 200
        assert "<script>window.pwned" not in page
        assert "<img src=x" not in page
        assert "<b>Evil</b>" not in page
        assert html.escape("<b>Evil</b> Ana") in page


async def test_search_by_text_customer_and_reference_with_filters(
    bridge: Running, browser: Browser
) -> None:
    first = await customer_writes(bridge, "v1", "my invoice is wrong", name="Ana Lima")
    second = await customer_writes(bridge, "v2", "cannot log in", name="Bruno Costa")
    third = await bridge.runtime.ingestor.ingest(
        inbound(
            "t1",
            at=bridge.runtime.clock.now(),
            thread=ThreadRef("telegram", "default", "chat-9"),
            text="invoice 100% wrong_again",
            sender_name="Carla",
        )
    )

    async def search(query: str) -> list[int]:
        async with browser.http.get(browser.url("/api/search?" + query)) as response:
            assert response.status == 200, await response.text()
            return [item["id"] for item in (await response.json())["items"]]

    assert await search("q=INVOICE") == [third.conversation.id, first]
    assert await search("q=bruno") == [second]
    assert await search(f"q=%23{first}") == [first]
    assert await search("q=invoice&channel=telegram") == [third.conversation.id]
    assert await search("q=invoice&status=queued&team=support&tier=1") == [
        third.conversation.id,
        first,
    ]
    assert await search("q=100%25") == [third.conversation.id]  # LIKE wildcards are literal
    assert await search("q=%25") == [third.conversation.id]
    assert await search("q=wrong_a") == [third.conversation.id]
    assert await search("tier=2") == []
    _status, page = await browser.page("/inbox?q=bruno")
    listed = page[page.index('id="all-list"') :]
    assert "Bruno Costa" in listed
    assert "Ana Lima" not in listed


async def test_the_whole_history_across_conversations_and_merging_customers(
    bridge: Running, browser: Browser
) -> None:
    web = await customer_writes(bridge, "v1", "hi from the web", name="Ana")
    telegram = await bridge.runtime.ingestor.ingest(
        inbound(
            "t1",
            at=bridge.runtime.clock.now(),
            thread=ThreadRef("telegram", "default", "chat-1"),
            text="hi from telegram",
            sender_name="Ana L.",
        )
    )
    store = bridge.runtime.storage.conversations
    keep = (await store.get_conversation(web)).customer_id
    other = telegram.conversation.customer_id
    assert keep != other
    async with browser.http.post(
        browser.url(f"/api/customers/{keep}/merge"),
        json={"other_id": other},
        headers={"X-CSRF-Token": browser.csrf},
    ) as response:
        assert response.status == 200, await response.text()
        merged = await response.json()
    assert sorted(i["channel"] for i in merged["identities"]) == ["telegram", "webchat"]
    async with browser.http.get(browser.url(f"/api/customers/{keep}")) as response:
        body = await response.json()
    assert [c["id"] for c in body["conversations"]] == [web, telegram.conversation.id]
    _status, page = await browser.page(f"/inbox?c={web}")
    assert "hi from the web" in page
    assert "hi from telegram" in page
    assert page.count('data-testid="conversation-divider"') == 2
    async with browser.http.get(browser.url(f"/api/customers/{other}")) as response:
        assert response.status == 404
    # The telegram customer's next message lands in the merged history.
    again = await bridge.runtime.ingestor.ingest(
        inbound(
            "t2",
            at=bridge.runtime.clock.now(),
            thread=ThreadRef("telegram", "default", "chat-1"),
            text="still me",
        )
    )
    assert again.conversation.customer_id == keep
    response = await browser.form(f"/inbox/customers/{keep}/merge", {"other_id": str(keep)})
    _status, page = await browser.page(response.headers["Location"])
    assert "cannot be merged with itself" in page


async def test_unread_marks_follow_what_the_agent_opened(bridge: Running, browser: Browser) -> None:
    conversation = await customer_writes(bridge, "v1", "one")
    _status, page = await browser.page("/inbox")
    assert 'class="row unread' in page
    await browser.page(f"/inbox?c={conversation}")
    _status, page = await browser.page("/inbox")
    assert 'class="row unread' not in page
    await customer_writes(bridge, "v1", "two")
    _status, page = await browser.page("/inbox")
    assert 'class="row unread' in page


async def test_escalate_with_a_handoff_note_presence_and_transfer(
    bridge: Running, browser: Browser
) -> None:
    conversation = await customer_writes(bridge)
    await browser.form("/inbox/take-next", {})
    response = await browser.form(
        f"/inbox/conversations/{conversation}/escalate",
        {"team": "billing", "tier": "2", "note": "refund over the limit"},
    )
    assert response.status == 303
    moved = await bridge.runtime.storage.conversations.get_conversation(conversation)
    assert (moved.team, moved.tier) == ("billing", 2)
    notes = [
        m
        for m in await bridge.runtime.storage.conversations.messages(conversation)
        if not m.is_public
    ]
    assert notes
    assert "refund over the limit" in notes[0].text
    response = await browser.form("/inbox/presence", {"presence": "dnd", "back": "/inbox"})
    assert response.status == 303
    agent = await bridge.runtime.storage.agents.get_agent(bridge.agent.id)
    assert agent.presence.value == "dnd"
    _status, page = await browser.page("/inbox")
    assert '<option value="dnd" selected>' in page
