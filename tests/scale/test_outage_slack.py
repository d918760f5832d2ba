"""A Slack 429 storm: for a few seconds Slack answers every chat.postMessage with 429 and
Retry-After, while customers keep writing (from Slack and the web chat) and agents keep
answering. Meanwhile ``/readyz`` shows Slack degraded and the inbox lists the replies that
wait; afterwards everything is in Slack exactly once and in order, with nobody doing anything.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.scale.outages import StormySlack, component, stormy_slack_bridge, until, waiting
from tests.slack.fake_web_api import Posted
from tests.slack.signing import message_event
from tests.slack.support import SHARED, SUPPORT, SlackBridge

STORM_SECONDS = 4.0
ROUNDS = 3
SLACK = "channel:slack:default"


async def reply(s: SlackBridge, conversation: int, text: str) -> None:
    bridge = s.bridge
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": text, "internal": False},
        headers=bridge.auth,
    ) as response:
        assert response.status == 201, await response.text()


def texts(posts: list[Posted]) -> list[str]:
    return [p.text for p in posts]


@pytest.mark.timeout(90)
async def test_a_429_storm_delays_slack_and_loses_nothing(tmp_path: Path) -> None:
    async with stormy_slack_bridge(
        tmp_path,
        routing={"acknowledgements": {"enabled": False}},
        # Attempts spent on 429s must not make a delivery dead within the test's storm.
        outbox={"max_attempts": 200},
    ) as s:
        fake, bridge = s.fake, s.bridge
        assert isinstance(fake, StormySlack)
        fake.add_user("U0CUST", "Joe Acme", team="T0ACME")
        top = message_event(SHARED, "U0CUST", "slack customer 0")
        assert await s.send_event(top) == 200
        await s.settle()
        [slack_conversation] = (
            await bridge.runtime.storage.conversations.list_conversations()
        ).items
        visitor = await s.visitor("Vera")
        await visitor.say("web customer 0", "w0")
        web_conversation = next(
            c.id
            for c in (await bridge.runtime.storage.conversations.list_conversations()).items
            if c.id != slack_conversation.id
        )
        slack_root = await s.root_of(slack_conversation.id)
        web_root = await s.root_of(web_conversation)
        assert (await component(bridge.http, bridge.base_url, SLACK))["health"] == "ok"

        fake.storm(retry_after=1)
        for n in range(1, ROUNDS + 1):
            follow = message_event(
                SHARED, "U0CUST", f"slack customer {n}", thread_ts=str(top["ts"])
            )
            assert await s.send_event(follow) == 200  # stored: Slack's limit is on posting
            await visitor.say(f"web customer {n}", f"w{n}")
            await reply(s, slack_conversation.id, f"answer {n}")
            # The web chat is not Slack: its replies go out at once, storm or not.
            await reply(s, web_conversation, f"web answer {n}")
            await visitor.next_message(text=f"web answer {n}")

        async def degraded() -> dict[str, str] | None:
            state = await component(bridge.http, bridge.base_url, SLACK)
            return state if state["health"] == "degraded" else None

        state = await until(degraded, what="/readyz shows Slack degraded")
        assert "rate limited by Slack" in state["detail"]

        async def slack_replies_wait() -> dict[str, object] | None:
            body = await waiting(bridge.http, bridge.base_url, bridge.auth)
            found = [d for d in body["destinations"] if d["channel"] == "slack"]
            return found[0] if found else None

        listed = await until(slack_replies_wait, what="the inbox lists the waiting replies")
        assert listed["conversation_ids"] == [slack_conversation.id]
        assert 1 <= int(str(listed["count"])) <= ROUNDS
        assert str(listed["reason"]) == "rate limited by Slack (HTTP 429): retry after 1 s"
        status, page = await _inbox_page(s)
        assert status == 200
        assert "waiting to be delivered" in page
        assert f'href="/inbox?c={slack_conversation.id}"' in page

        # Nothing reached Slack meanwhile; the storm lasts a few seconds more, then passes.
        assert fake.in_thread(SHARED, str(top["ts"])) == []
        await asyncio.sleep(max(0.0, STORM_SECONDS - (time.monotonic() - fake.storm_started)))
        fake.calm()
        # Nobody does anything.
        want_answers = [f"answer {n}" for n in range(1, ROUNDS + 1)]
        await s.wait(lambda: texts(fake.in_thread(SHARED, str(top["ts"]))) == want_answers)
        # Posting resumes within Retry-After (plus the outbox's short backoff).
        assert time.monotonic() - fake.storm_ended < 5.0
        want_web = [f"web customer {n}" for n in range(ROUNDS + 1)]
        want_slack = [f"slack customer {n}" for n in range(ROUNDS + 1)]

        def mirrored(root: str, wanted: list[str]) -> bool:
            seen = [t for t in texts(fake.in_thread(SUPPORT, root)) if t in wanted]
            return len(seen) >= len(wanted)

        await s.wait(lambda: mirrored(web_root, want_web) and mirrored(slack_root, want_slack))
        await s.settle()

        async def clear() -> bool:
            state = await component(bridge.http, bridge.base_url, SLACK)
            body = await waiting(bridge.http, bridge.base_url, bridge.auth)
            return state["health"] == "ok" and body["total"] == 0

        await until(clear, what="/readyz and the inbox clear")

        # Exactly once, in order: the customer's thread, and both agents' threads.
        assert texts(fake.in_thread(SHARED, str(top["ts"]))) == want_answers
        web_thread = texts(fake.in_thread(SUPPORT, web_root))
        slack_thread = texts(fake.in_thread(SUPPORT, slack_root))
        assert [t for t in web_thread if t in want_web] == want_web
        assert [t for t in slack_thread if t in want_slack] == want_slack
        assert [t for t in slack_thread if t in want_answers] == want_answers
        web_answers = [f"web answer {n}" for n in range(1, ROUNDS + 1)]
        assert [t for t in web_thread if t in web_answers] == web_answers
        store = bridge.runtime.storage.conversations
        deliveries = await store.deliveries_for(slack_conversation.id)
        assert [d.state for d in deliveries] == ["sent"] * ROUNDS
        # The storm really hit both the outbox (customer's channel) and the mirror (agents').
        limited = {
            c.args.get("channel") for c in fake.calls_of("chat.postMessage") if c.status == 429
        }
        assert limited == {SHARED, SUPPORT}


async def _inbox_page(s: SlackBridge) -> tuple[int, str]:
    from tests.web.inbox_support import sign_in

    browser = await sign_in(s.bridge)
    try:
        return await browser.page("/inbox")
    finally:
        await browser.close()
