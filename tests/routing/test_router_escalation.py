"""Escalation (`POST /api/conversations/{id}/escalate`): the conversation moves to another tier
or team with its place in line and a handoff note that only agents ever see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.routing.router_support import NO_ACKS, open_desk

NOTE = "Refund above 500 EUR: needs a tier-2 decision. Customer already sent the invoice."
ESCALATED = (
    "Your question needs a specialist, so we've passed #{id} to a colleague who knows this "
    "area best. They'll reply right here; there's no need to write again."
)


async def test_escalation_hands_the_whole_context_to_tier_two(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        conversation_id = await desk.opens("ana", "I want a refund for order 1234")
        before = await desk.conversation(conversation_id, mia)
        assert before["assignee_id"] == mia.id
        await desk.reply(conversation_id, mia, "Let me check that for you.")
        await desk.write("ana", "It was 640 EUR", after=20)
        waiting_since = (await desk.conversation(conversation_id, mia))["waiting_since"]
        assert waiting_since is not None

        reply = await desk.call(
            "POST",
            f"/api/conversations/{conversation_id}/escalate",
            mia,
            {"tier": 2, "note": NOTE},
        )
        assert reply.status == 200, reply.body
        assert (reply.body["tier"], reply.body["status"]) == (2, "queued")
        assert reply.body["assignee_id"] is None
        # Its place in line: since the customer started waiting, not since the handoff.
        assert reply.body["waiting_since"] == waiting_since
        assert await desk.queued_ids(mia, "?tier=2") == [conversation_id]
        assert await desk.queued_ids(mia, "?tier=1") == []

        body = await desk.conversation(conversation_id, mia)
        [note] = [m for m in body["messages"] if NOTE in m["text"]]
        assert note["visibility"] == "internal"
        assert note["author"] == "agent"
        assert note["author_id"] == mia.id
        assert "delivery" not in note
        deliveries = await desk.bridge.runtime.storage.conversations.deliveries_for(conversation_id)
        assert note["id"] not in {d.message_id for d in deliveries}
        # The customer is told once, publicly, without a word of the note.
        bots = [m for m in body["messages"] if m["author"] == "bot"]
        assert [m["text"] for m in bots] == [ESCALATED.format(id=conversation_id)]
        assert bots[0]["visibility"] == "public"
        assert bots[0]["id"] in {d.message_id for d in deliveries}

        # The specialist takes it and sees everything, the note included, in order.
        sam = await desk.staff("Sam Second", tier=2, presence="away")
        taken = await desk.take_next(sam)
        assert (taken.status, taken.body["id"], taken.body["assignee_id"]) == (
            200,
            conversation_id,
            sam.id,
        )
        seen = await desk.conversation(conversation_id, sam)
        assert [(m["author"], m["visibility"]) for m in seen["messages"]] == [
            ("customer", "public"),
            ("agent", "public"),
            ("customer", "public"),
            ("agent", "internal"),
            ("bot", "public"),
        ]
        assert seen["messages"][0]["text"] == "I want a refund for order 1234"
        assert NOTE in seen["messages"][3]["text"]


async def test_an_online_specialist_gets_it_at_once(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        sam = await desk.staff("Sam Second", tier=2)
        conversation_id = await desk.opens("ana")
        reply = await desk.call(
            "POST",
            f"/api/conversations/{conversation_id}/escalate",
            mia,
            {"tier": 2, "note": NOTE},
        )
        assert reply.body["assignee_id"] == sam.id
        assert reply.body["status"] == "assigned"


@pytest.mark.parametrize(("keeps_wait", "order"), [(True, "by_arrival"), (False, "by_handoff")])
async def test_the_place_in_the_new_line(tmp_path: Path, keeps_wait: bool, order: str) -> None:
    routing = {**NO_ACKS, "escalation_keeps_wait": keeps_wait}
    async with open_desk(tmp_path, routing=routing) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        earlier = await desk.opens("ana")
        later = await desk.opens("ben")
        for conversation_id in (later, earlier):  # the later arrival is escalated first
            desk.clock.advance(5)
            reply = await desk.call(
                "POST",
                f"/api/conversations/{conversation_id}/escalate",
                mia,
                {"tier": 2, "note": NOTE},
            )
            assert reply.status == 200
        expected = [earlier, later] if order == "by_arrival" else [later, earlier]
        assert await desk.queued_ids(mia, "?tier=2") == expected


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"tier": 2}, "note"),
        ({"tier": 2, "note": "   "}, "note"),
        ({"note": NOTE}, "tier"),
        ({"tier": 1, "note": NOTE}, "another team or tier"),
        ({"tier": 1, "team": "support", "note": NOTE}, "another team or tier"),
        ({"tier": "2", "note": NOTE}, "tier"),
    ],
    ids=["no-note", "blank-note", "no-target", "same-tier", "same-team-and-tier", "bad-tier"],
)
async def test_a_bad_escalation_is_refused_and_changes_nothing(
    tmp_path: Path, body: dict[str, Any], fragment: str
) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        conversation_id = await desk.opens("ana")
        before = await desk.conversation(conversation_id, mia)
        reply = await desk.call("POST", f"/api/conversations/{conversation_id}/escalate", mia, body)
        assert reply.status == 400
        assert reply.body["error"] == "invalid_input"
        assert fragment in reply.body["message"]
        after = await desk.conversation(conversation_id, mia)
        assert after == before
