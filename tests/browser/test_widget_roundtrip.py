"""A visitor writes in the widget, an agent answers through the API, the visitor sees the
answer, and an internal note never reaches the page, not live and not after a reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.harness import Running, running_bridge

pytestmark = pytest.mark.browser

NOTE = "SECRET-NOTE: customer flagged for refund abuse"
HOSTILE = "My order #77 is late <script>window.pwned=1</script><img src=x onerror=window.pwned=2>"


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(tmp_path) as running:
        yield running


async def post(bridge: Running, conversation: int, text: str, *, internal: bool) -> None:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": text, "internal": internal},
        headers=bridge.auth,
    ) as response:
        assert response.status == 201, await response.text()


async def only_conversation(bridge: Running) -> int:
    async with bridge.http.get(bridge.url("/api/conversations"), headers=bridge.auth) as response:
        items = (await response.json())["items"]
    assert len(items) == 1
    return int(items[0]["id"])


def messages(page: Page, author: str | None = None):
    """Messages the bridge has acknowledged (they carry its id), not ones still sending."""
    selector = '[data-testid="message"][data-id]'
    if author:
        selector += f'[data-author="{author}"]'
    return page.locator(selector)


async def test_widget_round_trip_without_notes(
    bridge: Running, browser: Browser, artifacts: Path
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(str(bridge.base_url))

    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("input").fill(HOSTILE)
    await page.get_by_test_id("input").press("Enter")
    mine = messages(page, "customer")
    await expect(mine).to_have_count(1)
    await expect(mine.first).to_contain_text("<script>window.pwned=1</script>")
    await expect(mine.first).to_have_attribute("data-id", str(await stored_id(bridge)))

    # The router acknowledges at once: reference, place in line, expected wait.
    ack = messages(page, "bot")
    await expect(ack).to_have_count(1)
    await expect(ack.first).to_contain_text("#1")
    await expect(ack.first).to_contain_text("number 1 in line")

    conversation = await only_conversation(bridge)
    await post(bridge, conversation, NOTE, internal=True)
    await post(bridge, conversation, "We are on it! <b>not bold</b>", internal=False)
    agent = messages(page, "agent")
    await expect(agent).to_have_count(1)
    await expect(agent.first).to_contain_text("We are on it! <b>not bold</b>")
    await expect(page.get_by_test_id("messages")).not_to_contain_text("SECRET-NOTE")
    await page.screenshot(path=artifacts / "webchat-conversation.png")

    # The page's own markup never grew elements out of customer or agent text.
    assert await page.evaluate("window.pwned") is None
    assert dialogs == []

    # A reload resumes from the stored session: the history is back, still without the note.
    await page.reload()
    await page.get_by_test_id("launcher").click()
    await expect(messages(page)).to_have_count(3)
    await expect(page.get_by_test_id("messages")).not_to_contain_text("SECRET-NOTE")
    content = await page.content()
    assert "SECRET-NOTE" not in content

    # Another visitor sees nothing of the first one's conversation.
    stranger = await (await browser.new_context()).new_page()
    await stranger.goto(str(bridge.base_url))
    await stranger.get_by_test_id("launcher").click()
    await expect(stranger.get_by_test_id("panel")).to_be_visible()
    await expect(messages(stranger)).to_have_count(0)
    await context.close()


async def stored_id(bridge: Running) -> int:
    conversation = await only_conversation(bridge)
    async with bridge.http.get(
        bridge.url(f"/api/conversations/{conversation}"), headers=bridge.auth
    ) as response:
        body = await response.json()
    return int(body["messages"][0]["id"])


async def test_a_reply_sent_while_the_visitor_was_offline_arrives_on_return(
    bridge: Running, browser: Browser
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(str(bridge.base_url))
    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("input").fill("anyone there?")
    await page.get_by_test_id("send").click()
    await expect(messages(page, "customer")).to_have_count(1)
    conversation = await only_conversation(bridge)

    await page.close()  # the visitor leaves
    await post(bridge, conversation, "internal: call them back", internal=True)
    await post(bridge, conversation, "Yes! Sorry for the wait.", internal=False)

    page = await context.new_page()  # and comes back later
    await page.goto(str(bridge.base_url))
    await page.get_by_test_id("launcher").click()
    agent = messages(page, "agent")
    await expect(agent).to_have_count(1)
    await expect(agent.first).to_contain_text("Yes! Sorry for the wait.")
    await expect(page.get_by_test_id("messages")).not_to_contain_text("call them back")
    await context.close()
