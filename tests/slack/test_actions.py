"""The root message's buttons, the escalation form, ``/queue`` and queue alerts."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.model import ConversationStatus, Visibility
from tests.slack.support import SUPERVISORS, SUPPORT, SlackBridge, slack_bridge


def root_text(s: SlackBridge, ts: str) -> str:
    return json.dumps(s.fake.message(SUPPORT, ts).args.get("blocks"), ensure_ascii=False)


def buttons(s: SlackBridge, ts: str) -> list[str]:
    blocks = s.fake.message(SUPPORT, ts).args.get("blocks") or []
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def test_take_resolve_and_reopen_follow_the_queue_and_update_the_root(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path, root_refresh_interval=0.1) as s:
        bea = await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        first = await s.visitor("Ana Lima")
        await first.say("first!", "a")
        second = await s.visitor("Rui Costa")
        await second.say("second", "b")
        page = await s.bridge.runtime.storage.conversations.list_conversations()
        ana, rui = sorted(page.items, key=lambda c: c.id)
        ana_root, rui_root = await s.root_of(ana.id), await s.root_of(rui.id)
        assert buttons(s, ana_root) == ["take", "resolve", "escalate"]
        await s.wait(lambda: "number 2 in line" in root_text(s, rui_root))

        # Strict first come, first served: Rui's conversation is not Bea's to take yet.
        assert await s.click("take", rui.id, "U0BEA", rui_root) == 200
        [told] = await s.wait(lambda: s.fake.ephemeral)
        assert told["user"] == "U0BEA"
        assert "first-come-first-served" in told["text"]

        assert await s.click("take", ana.id, "U0BEA", ana_root) == 200
        await s.wait(lambda: "Assigned to Bea Santos" in root_text(s, ana_root))
        assert buttons(s, ana_root) == ["resolve", "escalate"]
        # Rui moved up: his root follows, though nothing happened to his conversation.
        await s.wait(lambda: "number 1 in line" in root_text(s, rui_root))
        store = s.bridge.runtime.storage.conversations
        assert (await store.get_conversation(ana.id)).assignee_id == bea.id

        assert await s.click("resolve", ana.id, "U0BEA", ana_root) == 200
        await s.wait(lambda: buttons(s, ana_root) == ["reopen"])
        assert (await store.get_conversation(ana.id)).status is ConversationStatus.RESOLVED

        assert await s.click("reopen", ana.id, "U0BEA", ana_root) == 200
        await s.wait(lambda: "Assigned to Bea Santos" in root_text(s, ana_root))
        assert (await store.get_conversation(ana.id)).status is ConversationStatus.ASSIGNED
        await first.ws.close()
        await second.ws.close()


async def test_escalate_opens_a_form_and_the_submission_hands_the_conversation_on(
    tmp_path: Path,
) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("I need a refund over the limit", "a")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        assert await s.click("escalate", conversation.id, "U0BEA", root_ts) == 200
        [opened] = await s.wait(lambda: s.fake.views)
        view = opened["view"]
        assert view["callback_id"] == "escalate"
        assert view["private_metadata"] == str(conversation.id)

        errors = await s.submit_view(str(conversation.id), {}, "U0BEA")
        assert errors["response_action"] == "errors"
        assert "note" in errors["errors"]

        values = {
            "tier": {"tier": {"value": "2"}},
            "team": {"team": {"value": ""}},
            "note": {"note": {"value": "over the refund limit; approved by finance?"}},
        }
        assert await s.submit_view(str(conversation.id), values, "U0BEA") is None
        store = s.bridge.runtime.storage.conversations
        moved = await store.get_conversation(conversation.id)
        assert moved.tier == 2
        handoff = [
            m.text for m in await s.messages(conversation.id) if m.visibility is Visibility.INTERNAL
        ]
        assert handoff == ["Handoff: over the refund limit; approved by finance?"]
        await s.wait(lambda: "tier 2" in root_text(s, root_ts))
        await s.wait(
            lambda: any(p.text.startswith("🔒 Handoff") for p in s.fake.in_thread(SUPPORT, root_ts))
        )
        # The customer is told it moved on (the router's notice); never the note.
        assert not any("refund limit" in t for t in await s.delivered_texts(conversation.id))
        await visitor.ws.close()


async def test_escalate_from_a_thread_message(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("broken", "a")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        ts = await s.say_in_thread(root_ts, "U0BEA", "escalate: tier 2 needs a database fix")
        await s.wait(lambda: s.fake.reactions_on(SUPPORT, ts) == ["lock"])
        store = s.bridge.runtime.storage.conversations
        assert (await store.get_conversation(conversation.id)).tier == 2
        assert not any("database" in t for t in await s.delivered_texts(conversation.id))
        await visitor.ws.close()


async def test_buttons_need_an_agent(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        s.fake.add_user("U0STRANGER", "Sam")
        visitor = await s.visitor("Ana Lima")
        await visitor.say("hi", "a")
        conversation = await s.only_conversation()
        root_ts = await s.root_of(conversation.id)
        assert await s.click("take", conversation.id, "U0STRANGER", root_ts) == 200
        [told] = await s.wait(lambda: s.fake.ephemeral)
        assert "not an agent here" in told["text"]
        store = s.bridge.runtime.storage.conversations
        assert (await store.get_conversation(conversation.id)).status is ConversationStatus.QUEUED
        await visitor.ws.close()


async def test_queue_command_reports_and_takes_the_next(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com", online=False)
        visitors = []
        for n, name in enumerate(["Ana Lima", "Rui Costa"]):
            visitor = await s.visitor(name)
            await visitor.say("waiting", f"m{n}")
            visitors.append(visitor)
        await s.bridge.runtime.router.settle()
        assert await s.command("", "U0BEA") == 200
        [report] = await s.wait(lambda: s.fake.responses)
        assert report["response_type"] == "ephemeral"
        assert "*Queue:* 2 waiting" in report["text"]
        assert "*Agents online:* 0" in report["text"]
        assert "*SLA breaches (24 h):* 0" in report["text"]

        assert await s.command("next", "U0BEA") == 200
        await s.wait(lambda: len(s.fake.responses) == 2)
        assert s.fake.responses[1]["text"].startswith("You have #")
        for visitor in visitors:
            await visitor.ws.close()


async def test_alerts_go_to_supervisors_and_so_does_the_all_clear(tmp_path: Path) -> None:
    async with slack_bridge(tmp_path, alert_queue_length=2, alert_interval=0.05) as s:
        await s.slack_agent("U0BEA", "Bea Santos", "bea.s@example.com")
        visitors = []
        for n, name in enumerate(["Ana Lima", "Rui Costa"]):
            visitor = await s.visitor(name)
            await visitor.say("waiting", f"m{n}")
            visitors.append(visitor)
        [alert] = await s.wait(lambda: s.fake.roots(SUPERVISORS))
        assert "Queue alert" in alert.text
        assert "2 conversations waiting" in alert.text
        page = await s.bridge.runtime.storage.conversations.list_conversations()
        for conversation in page.items:
            root_ts = await s.root_of(conversation.id)
            assert await s.click("resolve", conversation.id, "U0BEA", root_ts) == 200
        await s.wait(lambda: len(s.fake.roots(SUPERVISORS)) == 2)
        assert "back to normal" in s.fake.roots(SUPERVISORS)[1].text
        for visitor in visitors:
            await visitor.ws.close()
