"""The inbox, the dashboard and the status page in real Chromium.

An agent signs in, sees a visitor's message arrive live, takes it, writes a note and a reply;
in other browser contexts the visitor's web chat and the status page show the reply and never
the note; hostile text stays text everywhere; the composer works from the keyboard alone.
Screenshots of the inbox and the dashboard go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from bridge.model import Role
from tests.harness import Running, running_bridge
from tests.web.inbox_support import PASSWORD, set_password

pytestmark = pytest.mark.browser

NOTE = "SECRET-NOTE: customer flagged for refund abuse"
REPLY = "Your parcel left our warehouse today."
HOSTILE = "Parcel #77 <script>window.pwned=1</script><img src=x onerror=window.pwned=2>"


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(tmp_path) as running:
        yield running


async def signed_in(bridge: Running, browser: Browser, email: str = "bea@example.com") -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(str(bridge.url("/inbox")))
    await expect(page).to_have_url(str(bridge.url("/login?next=%2Finbox")))
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("whoami")).to_be_visible()
    return page


async def visitor_writes(
    browser: Browser, bridge: Running, text: str
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(str(bridge.base_url))
    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("input").fill(text)
    await page.get_by_test_id("input").press("Enter")
    await expect(
        page.locator('[data-testid="message"][data-id][data-author="customer"]')
    ).to_have_count(1)
    return context, page


async def test_take_next_note_and_reply_reach_only_where_they_should(
    bridge: Running, browser: Browser, artifacts: Path
) -> None:
    await set_password(bridge, bridge.agent)
    agent = await signed_in(bridge, browser)
    dialogs: list[str] = []
    agent.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await expect(agent.locator("body[data-live]")).to_have_count(1)
    await agent.evaluate("window.sameDocument = true")

    # A visitor writes; the queue shows it without a reload.
    visitor_context, visitor = await visitor_writes(browser, bridge, HOSTILE)
    row = agent.get_by_test_id("queue-list").get_by_test_id("row")
    await expect(row).to_have_count(1)
    await expect(row.first).to_contain_text("Visitor")
    assert await agent.evaluate("window.sameDocument") is True

    await agent.get_by_test_id("take-next").click()
    history = agent.get_by_test_id("history")
    await expect(history).to_contain_text("<script>window.pwned=1</script>")
    await expect(agent.get_by_test_id("conversation-status")).to_have_text("Assigned")

    # A note: switched to "Internal note", it looks different and says so.
    await agent.locator("label[for=mode-note]").click()
    await expect(agent.get_by_test_id("composer")).to_have_class("composer mode-note")
    await agent.get_by_test_id("composer-text").fill(NOTE)
    await agent.get_by_test_id("send").click()
    note = history.locator('[data-visibility="internal"]')
    await expect(note).to_have_count(1)
    await expect(note).to_contain_text("Internal note")
    await expect(note).to_contain_text(NOTE)
    # The mode stays on "note" after a note; back to Reply for the answer.
    await agent.locator("label[for=mode-reply]").click()
    await agent.get_by_test_id("composer-text").fill(REPLY)
    await agent.get_by_test_id("composer-text").press("Control+Enter")
    await expect(history.locator('[data-author="agent"][data-visibility="public"]')).to_have_count(
        1
    )

    # The visitor gets the reply, never the note.
    await expect(visitor.locator('[data-testid="message"][data-author="agent"]')).to_contain_text(
        REPLY
    )
    await expect(visitor.get_by_test_id("messages")).not_to_contain_text("SECRET-NOTE")
    await visitor.reload()
    await visitor.get_by_test_id("launcher").click()
    await expect(visitor.locator('[data-testid="message"][data-author="agent"]')).to_have_count(1)
    assert "SECRET-NOTE" not in await visitor.content()

    # The status page shows the same public history, as text.
    conversation_id = int(
        await agent.locator("#conversation").get_attribute("data-conversation-id") or 0
    )
    conversation = await bridge.runtime.storage.conversations.get_conversation(conversation_id)
    url = await bridge.runtime.inbox.status_pages.status_url(conversation)
    stranger = await (await browser.new_context()).new_page()
    await stranger.goto(
        url.replace(bridge.runtime.settings.public_url, str(bridge.base_url).rstrip("/"))
    )
    status_history = stranger.get_by_test_id("status-history")
    await expect(status_history).to_contain_text(REPLY)
    await expect(status_history).to_contain_text("<script>window.pwned=1</script>")
    await expect(stranger.get_by_test_id("status-agent")).to_contain_text(
        "Bea is looking after you."
    )
    assert "SECRET-NOTE" not in await stranger.content()
    assert await stranger.evaluate("window.pwned") is None

    # A new customer message arrives live, and the typing hint before it.
    await agent.evaluate("window.sameDocument = true")
    await visitor.get_by_test_id("input").type("and one more thing")
    await expect(agent.get_by_test_id("typing")).to_be_visible()
    await visitor.get_by_test_id("input").press("Enter")
    await expect(history.locator('[data-author="customer"]').last).to_contain_text(
        "and one more thing"
    )
    assert await agent.evaluate("window.sameDocument") is True

    assert await agent.evaluate("window.pwned") is None
    assert await visitor.evaluate("window.pwned") is None
    assert dialogs == []
    await agent.screenshot(path=artifacts / "inbox.png", full_page=True)
    await visitor_context.close()


async def test_the_composer_works_from_the_keyboard_alone(
    bridge: Running, browser: Browser
) -> None:
    await set_password(bridge, bridge.agent)
    context, _visitor = await visitor_writes(browser, bridge, "keyboard test please")
    agent = await signed_in(bridge, browser)
    await agent.get_by_test_id("take-next").focus()
    await agent.keyboard.press("Enter")
    await expect(agent.get_by_test_id("composer")).to_be_visible()

    async def tab_to(element_id: str, key: str = "Tab") -> None:
        for _ in range(200):
            if (
                await agent.evaluate("document.activeElement && document.activeElement.id")
                == element_id
            ):
                return
            await agent.keyboard.press(key)
        raise AssertionError(f"{element_id} is not reachable with {key}")

    await tab_to("composer-text")
    await agent.keyboard.type("only agents may read this")
    await agent.keyboard.press("Shift+Tab")
    assert await agent.evaluate("document.activeElement.id") == "mode-reply"
    await agent.keyboard.press("ArrowRight")  # Reply -> Internal note
    assert await agent.evaluate("document.activeElement.id") == "mode-note"
    await expect(agent.get_by_test_id("composer")).to_have_class("composer mode-note")
    await agent.keyboard.press("Tab")
    await agent.keyboard.press("Control+Enter")
    history = agent.get_by_test_id("history")
    await expect(history.locator('[data-visibility="internal"]')).to_contain_text(
        "only agents may read this"
    )

    await tab_to("composer-text")
    await agent.keyboard.type("and this one is for the customer")
    await agent.keyboard.press("Shift+Tab")
    assert await agent.evaluate("document.activeElement.id") == "mode-note"  # sticky after a note
    await agent.keyboard.press("ArrowLeft")
    await expect(agent.get_by_test_id("composer")).to_have_class("composer mode-reply")
    await agent.keyboard.press("Tab")
    await agent.keyboard.press("Control+Enter")
    await expect(
        history.locator('[data-author="agent"][data-visibility="public"]')
    ).to_contain_text("and this one is for the customer")
    conversation_id = int(
        await agent.locator("#conversation").get_attribute("data-conversation-id") or 0
    )
    stored = await bridge.runtime.storage.conversations.messages(conversation_id)
    mine = [(m.visibility.value, m.text) for m in stored if m.author.value == "agent"]
    assert mine == [
        ("internal", "only agents may read this"),
        ("public", "and this one is for the customer"),
    ]
    await context.close()


async def test_the_dashboard_shows_hostile_text_as_text(
    bridge: Running, browser: Browser, artifacts: Path
) -> None:
    supervisor, _token = await bridge.add_agent("Sam Boss", "sam@example.com", Role.SUPERVISOR)
    await set_password(bridge, supervisor)
    context, _visitor = await visitor_writes(browser, bridge, HOSTILE)
    page = await signed_in(bridge, browser, "sam@example.com")
    await page.get_by_role("link", name="Supervisor").click()
    await expect(page.get_by_test_id("stat-queue-length")).to_have_text("1")
    await expect(page.get_by_test_id("longest")).to_contain_text("<script>window.pwned=1</script>")
    await expect(page.get_by_test_id("agents")).to_contain_text("Sam Boss")
    await expect(page.get_by_test_id("chart")).to_be_visible()
    assert await page.evaluate("document.getElementById('chart').naturalWidth") > 0
    assert await page.evaluate("window.pwned") is None
    await page.screenshot(path=artifacts / "supervisor.png", full_page=True)
    await context.close()
