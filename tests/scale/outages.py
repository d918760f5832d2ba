"""What the outage tests share: waiting on the bridge's own reports (``/readyz``, the waiting
deliveries), and a fake Slack that can answer every post with 429 for a while."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from tests.harness import running_bridge
from tests.slack.fake_web_api import FakeSlack
from tests.slack.support import SHARED, SUPERVISORS, SUPPORT, SlackBridge, slack_settings

Answer = tuple[int, dict[str, Any], dict[str, str]]


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "") -> Any:
    """Wait until ``check()`` is truthy; returns it. Re-checked every 50 ms."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = await check()
                if value:
                    return value
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"gave up waiting after {timeout}s: {what}") from None


async def readyz(http: aiohttp.ClientSession, base: URL | str) -> dict[str, Any]:
    async with http.get(URL(str(base)).join(URL("/readyz"))) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == (200 if body["ready"] else 503)
        return body


async def component(http: aiohttp.ClientSession, base: URL | str, name: str) -> dict[str, str]:
    found: dict[str, str] = (await readyz(http, base))["components"][name]
    return found


async def waiting(
    http: aiohttp.ClientSession, base: URL | str, headers: dict[str, str]
) -> dict[str, Any]:
    url = URL(str(base)).join(URL("/api/deliveries/waiting"))
    async with http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


class StormySlack(FakeSlack):
    """The fake Slack Web API, with a storm: from :meth:`storm` to :meth:`calm` every
    ``chat.postMessage`` is answered ``429`` with ``Retry-After``, whoever posts and wherever
    (the rate limit Slack applies to an app that posts too much:
    https://docs.slack.dev/apis/web-api/rate-limits)."""

    def __init__(self) -> None:
        super().__init__()
        self.storming = False
        self._retry_after = 1
        self.storm_started = self.storm_ended = 0.0

    def storm(self, retry_after: int = 1) -> None:
        self.storming, self._retry_after = True, retry_after
        self.storm_started = time.monotonic()

    def calm(self) -> None:
        self.storming = False
        self.storm_ended = time.monotonic()

    def _answer(self, method: str, args: dict[str, Any], request: web.Request) -> Answer:
        if method == "chat.postMessage" and self.storming:
            return (
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(self._retry_after)},
            )
        return super()._answer(method, args, request)


@asynccontextmanager
async def stormy_slack_bridge(tmp_path: Path, **sections: Any) -> AsyncIterator[SlackBridge]:
    """The whole bridge with the Slack channel on a :class:`StormySlack` (as
    tests/slack/support.py's ``slack_bridge``, with any other settings sections)."""
    fake = StormySlack()
    for channel, name in ((SUPPORT, "support"), (SUPERVISORS, "supervisors"), (SHARED, "acme")):
        fake.add_channel(channel, name)
    await fake.start()
    try:
        channels = {"slack": slack_settings(fake), **sections.pop("channels", {})}
        async with running_bridge(tmp_path, channels=channels, **sections) as bridge:
            yield SlackBridge(bridge, fake)
    finally:
        await fake.stop()
