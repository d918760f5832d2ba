"""Which replies wait to be delivered, across conversations: ``GET /api/deliveries/waiting``,
the banner on the inbox and the dashboard, and the channel's line on ``/readyz``."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bridge.clock import SystemClock
from bridge.errors import TransientChannelError
from bridge.model import Role, ThreadRef
from tests.factories import inbound
from tests.fakes import RecordingAdapter
from tests.harness import Running, running_bridge
from tests.web.inbox_support import add_signed_in, sign_in

SMS = ThreadRef("sms", "default", "+351900000001")
#: The channel's own words reach the page: they must arrive there as text, never as markup.
HOSTILE = 'gateway says <b onmouseover="window.pwned=1">busy</b> & "try later"'


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def waiting(bridge: Running, query: str = "") -> dict[str, Any]:
    async with bridge.http.get(
        bridge.url(f"/api/deliveries/waiting{query}"), headers=bridge.auth
    ) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def component(bridge: Running, name: str) -> dict[str, str]:
    async with bridge.http.get(bridge.url("/readyz")) as response:
        body = await response.json()
    found: dict[str, str] = body["components"][name]
    return found


async def sms_conversation(bridge: Running) -> int:
    result = await bridge.runtime.ingestor.ingest(
        inbound("sms-1", at=SystemClock().now(), thread=SMS, text="where is my parcel?")
    )
    return result.conversation.id


async def reply(bridge: Running, conversation: int, text: str) -> int:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": text, "internal": False},
        headers=bridge.auth,
    ) as response:
        assert response.status == 201, await response.text()
        message_id: int = (await response.json())["message"]["id"]
        return message_id


async def test_replies_held_up_by_a_failing_channel_are_listed_escaped_and_then_cleared(
    tmp_path: Path,
) -> None:
    async with running_bridge(tmp_path, routing={"acknowledgements": {"enabled": False}}) as bridge:
        # The first three attempts fail (the outbox tries three times, then gives the row back
        # with the error); the next attempt waits until the platform "recovers".
        recovered = asyncio.Event()
        adapter = RecordingAdapter(
            channel="sms",
            failures=[TransientChannelError(HOSTILE, retry_after=None) for _ in range(3)],
            gate=recovered,
        )
        bridge.runtime.adapters["sms:default"] = adapter
        conversation = await sms_conversation(bridge)
        first = await reply(bridge, conversation, "It left the warehouse today.")
        second = await reply(bridge, conversation, "Tracking: PT123")

        async def both_wait() -> bool:
            return (await waiting(bridge))["total"] == 2

        await until(both_wait)
        body = await waiting(bridge)
        [destination] = body["destinations"]
        assert destination["channel"] == "sms"
        assert destination["count"] == 2
        assert destination["reason"] == HOSTILE
        assert destination["conversation_ids"] == [conversation]
        assert body["summary"].startswith("2 replies waiting to be delivered: sms 2 (gateway says")
        # Oldest first: the failing reply, then the one queued behind it with its reason.
        assert [i["message_id"] for i in body["items"]] == [first, second]
        assert [i["reason"] for i in body["items"]] == [HOSTILE, HOSTILE]
        assert body["items"][0]["attempts"] == 3
        assert body["items"][1]["attempts"] == 0
        assert [i["reference"] for i in body["items"]] == [f"#{conversation}"] * 2
        assert len((await waiting(bridge, "?limit=1"))["items"]) == 1

        state = await component(bridge, "channel:sms:default")
        assert state["health"] == "degraded"
        assert state["detail"].startswith("2 replies waiting: gateway says <b")
        # Degraded, not down: this process still takes messages, so it stays in service.
        async with bridge.http.get(bridge.url("/readyz")) as response:
            assert response.status == 200
            assert (await response.json())["status"] == "degraded"

        browser = await sign_in(bridge)
        supervisor = await add_signed_in(bridge, "Sam Super", "sam@example.com", Role.SUPERVISOR)
        try:
            for agent, path in ((browser, "/inbox"), (supervisor, "/supervisor")):
                status, page = await agent.page(path)
                assert status == 200
                start = page.index('id="waiting-deliveries"')
                banner = page[start : page.index("</section>", start)]
                assert " hidden" not in banner[: banner.index(">")]
                assert "2 replies waiting to be delivered" in banner
                assert "<b " not in banner
                assert "&lt;b onmouseover=" in banner
                assert f"sms 2 ({HOSTILE})" in html.unescape(banner)
                assert f'href="/inbox?c={conversation}"' in banner

            # The platform is back: both go out, in order, and the banner and /readyz clear.
            recovered.set()
            await adapter.wait_for(2)
            assert [s.text for s in adapter.sent] == [
                "It left the warehouse today.",
                "Tracking: PT123",
            ]

            async def cleared() -> bool:
                return (await waiting(bridge))["total"] == 0

            await until(cleared)
            assert await waiting(bridge) == {
                "total": 0,
                "summary": "",
                "destinations": [],
                "items": [],
            }
            assert (await component(bridge, "channel:sms:default"))["health"] == "ok"
            status, page = await browser.page("/inbox")
            start = page.index('id="waiting-deliveries"')
            assert " hidden>" in page[start : page.index(">", start) + 1]
        finally:
            await browser.close()
            await supervisor.close()


async def test_a_reply_nobody_sends_counts_as_waiting_once_overdue(tmp_path: Path) -> None:
    async with running_bridge(
        tmp_path,
        routing={"acknowledgements": {"enabled": False}},
        outbox={"overdue_after": 0.3},
    ) as bridge:
        adapter = RecordingAdapter(channel="sms")
        bridge.runtime.adapters["sms:default"] = adapter
        conversation = await sms_conversation(bridge)
        await bridge.runtime.dispatcher.stop()  # as if no process were sending
        await reply(bridge, conversation, "Coming right up")
        assert (await waiting(bridge))["total"] == 0  # not overdue yet

        async def overdue() -> bool:
            return (await waiting(bridge))["total"] == 1

        await until(overdue)
        [destination] = (await waiting(bridge))["destinations"]
        assert destination["reason"] is None
        assert destination["next_attempt_at"] is None
        assert destination["summary"] == "sms 1 (not sent yet)"
        assert (await component(bridge, "channel:sms:default")) == {
            "health": "degraded",
            "detail": "1 reply waiting: not sent yet",
        }
        await bridge.runtime.dispatcher.start()
        await adapter.wait_for(1)

        async def sent() -> bool:
            return (await waiting(bridge))["total"] == 0

        await until(sent)


async def test_the_list_is_for_signed_in_agents_and_checks_its_limit(tmp_path: Path) -> None:
    async with running_bridge(tmp_path) as bridge:
        url = bridge.url("/api/deliveries/waiting")
        async with bridge.http.get(url) as response:
            assert response.status == 401
        for limit in ("0", "501", "x"):
            async with bridge.http.get(url, params={"limit": limit}, headers=bridge.auth) as r:
                assert r.status == 400, limit
                assert (await r.json())["error"] == "invalid_input"
