"""The banner of replies waiting to be delivered, in real Chromium: it appears when a channel
fails replies, names the conversation and the channel's reason as text, and goes away once
they are delivered, without a reload (static/waiting.js)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from bridge.clock import SystemClock
from bridge.errors import TransientChannelError
from bridge.model import ThreadRef
from tests.factories import inbound
from tests.fakes import RecordingAdapter
from tests.harness import Running, running_bridge
from tests.web.inbox_support import PASSWORD, set_password

pytestmark = pytest.mark.browser

REASON = "gateway <img src=x onerror=window.pwned=1> busy"


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(tmp_path, routing={"acknowledgements": {"enabled": False}}) as b:
        yield b


async def signed_in(bridge: Running, browser: Browser) -> Page:
    await set_password(bridge, bridge.agent)
    page = await (await browser.new_context()).new_page()
    await page.goto(str(bridge.url("/login?next=/inbox")))
    await page.get_by_test_id("login-email").fill("bea@example.com")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("whoami")).to_be_visible()
    return page


async def refresh_banner(page: Page) -> None:
    """What coming back to the tab does; the 10 s timer does the same, only later."""
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


async def test_the_banner_comes_and_goes_without_a_reload(
    bridge: Running, browser: Browser
) -> None:
    page = await signed_in(bridge, browser)
    banner = page.get_by_test_id("waiting-deliveries")
    await expect(banner).to_be_hidden()
    await page.evaluate("window.sameDocument = true")

    recovered = asyncio.Event()
    adapter = RecordingAdapter(
        channel="sms",
        failures=[TransientChannelError(REASON) for _ in range(3)],
        gate=recovered,
    )
    bridge.runtime.adapters["sms:default"] = adapter
    result = await bridge.runtime.ingestor.ingest(
        inbound("s1", at=SystemClock().now(), thread=ThreadRef("sms", "default", "+3519"))
    )
    conversation = result.conversation.id
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": "On its way", "internal": False},
        headers=bridge.auth,
    ) as response:
        assert response.status == 201

    async with asyncio.timeout(10):
        while not await banner.is_visible():
            await refresh_banner(page)
            await asyncio.sleep(0.1)
    await expect(banner.get_by_test_id("waiting-headline")).to_have_text(
        "1 reply waiting to be delivered"
    )
    await expect(banner.get_by_test_id("waiting-destination")).to_contain_text(f"sms 1 ({REASON}")
    link = banner.get_by_test_id("waiting-conversation")
    await expect(link).to_have_text(f"#{conversation}")
    await expect(link).to_have_attribute("href", f"/inbox?c={conversation}")
    assert await page.evaluate("window.pwned") is None

    recovered.set()
    await adapter.wait_for(1)
    async with asyncio.timeout(10):
        while await banner.is_visible():
            await refresh_banner(page)
            await asyncio.sleep(0.1)
    assert await page.evaluate("window.sameDocument") is True
