"""What agents learn in the thread: a failed delivery (⚠️ and the reason), an SLA breach."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bridge.events import SlaBreached
from tests.slack.signing import message_event
from tests.slack.support import SUPPORT, slack_bridge


async def test_a_failed_delivery_gets_a_warning_and_the_reason_in_the_thread(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        s.fake.add_user("U0CUST", "Ana Lima")
        dm = message_event("D0ANA", "U0CUST", "hello?", channel_type="im")
        assert await s.send_event(dm) == 200
        await s.settle()
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        s.fake.fail("chat.postMessage", "restricted_action", channel="D0ANA")
        ts = await s.say_in_thread(root_ts, "U0BEA", "Here is your answer")
        await s.wait(lambda: "warning" in s.fake.reactions_on(SUPPORT, ts))
        await s.wait(
            lambda: any("Not delivered" in p.text for p in s.fake.in_thread(SUPPORT, root_ts))
        )
        [notice] = [p for p in s.fake.in_thread(SUPPORT, root_ts) if "Not delivered" in p.text]
        assert "restricted_action" in notice.text
        assert "white_check_mark" not in s.fake.reactions_on(SUPPORT, ts)


async def test_an_sla_breach_is_said_in_the_thread_and_on_the_root(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        visitor = await s.visitor("Ana Lima")
        await visitor.say("anyone?", "a")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        started = conversation.created_at
        breach = SlaBreached(
            conversation.id, "first", "webchat", "support", started, started + timedelta(minutes=5)
        )
        await s.bridge.runtime.bus.publish([breach])
        await s.wait(
            lambda: any(
                "first response is overdue" in p.text for p in s.fake.in_thread(SUPPORT, root_ts)
            )
        )
        await s.wait(
            lambda: "overdue since" in json.dumps(s.fake.message(SUPPORT, root_ts).args["blocks"])
        )
        await visitor.ws.close()
