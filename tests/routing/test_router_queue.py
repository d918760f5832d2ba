"""The live queue through the API: order, positions, estimates, partitions, and taking the head
(`GET /api/queue`, `POST /api/queue/next`, `POST /api/conversations/{id}/assign`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.model import Priority, Role
from tests.routing.router_support import NO_ACKS, open_desk


async def test_the_queue_lists_waiting_conversations_in_arrival_order(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        # One online agent who can hold one conversation: the first customer is with her,
        # the others wait, and the line has somebody serving it (so it has estimates).
        mia = await desk.staff("Mia Rocha", capacity=1)
        held = await desk.opens("zoe")
        first = await desk.opens("ana")
        second = await desk.opens("ben", channel="telegram")
        third = await desk.opens("cid")
        desk.clock.advance(10)

        body = await desk.queue(mia)

    assert body["length"] == 3
    items = body["items"]
    assert [i["conversation_id"] for i in items] == [first, second, third]
    assert held not in [i["conversation_id"] for i in items]
    assert [i["position"] for i in items] == [1, 2, 3]
    # Written one second apart, read ten seconds after the last one.
    assert [i["waiting_seconds"] for i in items] == [12.0, 11.0, 10.0]
    assert [i["channel"] for i in items] == ["webchat", "telegram", "webchat"]
    assert [i["customer"]["name"] for i in items] == [
        "Customer Ana",
        "Customer Ben",
        "Customer Cid",
    ]
    assert all(isinstance(i["customer"]["id"], int) for i in items)
    etas = [i["eta_seconds"] for i in items]
    assert all(isinstance(eta, int) and eta > 0 for eta in etas), etas
    assert etas == sorted(etas), "a later place in line never expects a shorter wait"
    assert [i["reference"] for i in items] == [f"#{first}", f"#{second}", f"#{third}"]
    assert [(i["team"], i["tier"], i["priority"]) for i in items] == [("support", 1, "normal")] * 3


async def test_a_page_of_the_queue_still_counts_everyone(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]
        page = await desk.queue(mia, "?limit=2")
        assert [i["conversation_id"] for i in page["items"]] == ids[:2]
        assert page["length"] == 3
        assert (await desk.call("GET", "/api/queue?limit=1001", mia)).status == 400


async def test_a_zero_limit_is_refused(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        await desk.opens("ana")
        assert (await desk.call("GET", "/api/queue?limit=0", mia)).status == 400


async def test_an_empty_queue(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        assert await desk.queue(mia) == {"items": [], "length": 0}
        assert (await desk.take_next(mia)).status == 204


async def test_urgent_goes_before_normal_and_arrival_order_holds_within_a_class(
    tmp_path: Path,
) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid", "dan")]
        await desk.set_priority(ids[3], Priority.URGENT)
        await desk.set_priority(ids[2], Priority.URGENT)

        body = await desk.queue(mia)
        assert [i["conversation_id"] for i in body["items"]] == [ids[2], ids[3], ids[0], ids[1]]
        assert [i["position"] for i in body["items"]] == [1, 2, 3, 4]
        assert [i["priority"] for i in body["items"]] == ["urgent", "urgent", "normal", "normal"]

        # Taking the head follows the same order.
        taken = [(await desk.take_next(mia)).body["id"] for _ in range(4)]
        assert taken == [ids[2], ids[3], ids[0], ids[1]]


async def test_with_strict_priority_off_arrival_alone_decides(tmp_path: Path) -> None:
    routing = {**NO_ACKS, "strict_priority": False}
    async with open_desk(tmp_path, routing=routing) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]
        await desk.set_priority(ids[2], Priority.URGENT)
        body = await desk.queue(mia)
        listed = [(i["conversation_id"], i["position"]) for i in body["items"]]
        assert listed == [(ids[0], 1), (ids[1], 2), (ids[2], 3)]
        taken = [(await desk.take_next(mia)).body["id"] for _ in range(3)]
        assert taken == ids


async def test_the_queue_is_partitioned_by_tier(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        lead = await desk.staff("Lea Lead", role=Role.SUPERVISOR, presence="away")
        specialist = await desk.staff("Sam Second", tier=2)
        tier_one = [await desk.opens(name) for name in ("ana", "ben", "cid")]
        # The tier-2 agent is online with room, and still gets none of the tier-1 line.
        for conversation_id in tier_one:
            assert (await desk.conversation(conversation_id, lead))["status"] == "queued"
        assert (await desk.take_next(specialist)).status == 204

        # Escalated to tier 2, it is the specialist's at once.
        escalated = await desk.call(
            "POST",
            f"/api/conversations/{tier_one[1]}/escalate",
            lead,
            {"tier": 2, "note": "card payments: needs the payments desk"},
        )
        assert escalated.status == 200, escalated.body
        moved = await desk.conversation(tier_one[1], lead)
        assert (moved["tier"], moved["status"], moved["assignee_id"]) == (
            2,
            "assigned",
            specialist.id,
        )

        # A tier-1 agent with room does not get a tier-2 conversation either.
        await desk.presence(specialist, "away")
        await desk.resolve(tier_one[1], lead)
        third = tier_one[2]
        await desk.call(
            "POST", f"/api/conversations/{third}/escalate", lead, {"tier": 2, "note": "same"}
        )
        first_line = await desk.staff("Fay First", capacity=6)
        assert (await desk.conversation(third, lead))["status"] == "queued"
        assert (await desk.conversation(tier_one[0], lead))["assignee_id"] == first_line.id
        assert (await desk.take_next(first_line)).status == 204

        assert await desk.queued_ids(lead, "?tier=2") == [third]
        assert await desk.queued_ids(lead, "?tier=1") == []
        taken = await desk.take_next(specialist)
        assert (taken.status, taken.body["id"]) == (200, third)


async def test_the_queue_is_partitioned_by_team(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        lead = await desk.staff("Lea Lead", role=Role.SUPERVISOR, presence="away")
        billing = await desk.staff("Bill Ing", teams=("billing",))
        support = [await desk.opens(name) for name in ("ana", "ben")]
        assert (await desk.take_next(billing)).status == 204
        assert await desk.queued_ids(lead, "?team=support") == support
        reply = await desk.call(
            "POST",
            f"/api/conversations/{support[1]}/escalate",
            lead,
            {"team": "billing", "note": "refund for a double charge"},
        )
        assert reply.status == 200, reply.body
        moved = await desk.conversation(support[1], lead)
        assert (moved["team"], moved["assignee_id"]) == ("billing", billing.id)
        assert await desk.queued_ids(lead, "?team=support") == [support[0]]


async def test_take_next_hands_out_the_head_then_refuses_a_full_agent(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", capacity=2, presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]

        first = await desk.take_next(mia)
        assert first.status == 200
        assert first.body["id"] == ids[0]
        assert first.body["status"] == "assigned"
        assert first.body["assignee_id"] == mia.id
        second = await desk.take_next(mia)
        assert (second.status, second.body["id"]) == (200, ids[1])

        full = await desk.take_next(mia)
        assert full.status == 409
        assert full.body["error"] == "conflict"
        assert "capacity" in full.body["message"]
        assert await desk.queued_ids(mia) == [ids[2]]

        # A slot frees up: the next take gets the last one, and then the queue is empty.
        await desk.resolve(ids[0], mia)
        third = await desk.take_next(mia)
        assert (third.status, third.body["id"]) == (200, ids[2])
        await desk.resolve(ids[1], mia)
        assert (await desk.take_next(mia)).status == 204


async def test_an_agent_cannot_take_out_of_order_but_a_supervisor_can(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        lead = await desk.staff("Lea Lead", role=Role.SUPERVISOR, presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]

        refused = await desk.assign(ids[1], mia)
        assert refused.status == 403
        assert "/api/queue/next" in refused.body["message"]
        assert await desk.queued_ids(mia) == ids

        head = await desk.assign(ids[0], mia)
        assert (head.status, head.body["assignee_id"]) == (200, mia.id)

        picked = await desk.assign(ids[2], lead)
        assert (picked.status, picked.body["assignee_id"]) == (200, lead.id)
        handed = await desk.assign(ids[1], lead, {"agent_id": mia.id})
        assert (handed.status, handed.body["assignee_id"]) == (200, mia.id)


async def test_an_agent_cannot_hand_a_conversation_to_someone_else(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        ivo = await desk.staff("Ivo Dias", presence="away")
        conversation_id = await desk.opens("ana")
        refused = await desk.assign(conversation_id, mia, {"agent_id": ivo.id})
        assert refused.status == 403


async def test_without_strict_fifo_an_agent_may_pick(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing={**NO_ACKS, "strict_fifo": False}) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]
        picked = await desk.assign(ids[2], mia)
        assert (picked.status, picked.body["assignee_id"]) == (200, mia.id)
        assert await desk.queued_ids(mia) == ids[:2]


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
async def test_an_agent_who_never_changed_presence_can_take_the_head(
    tmp_path: Path, role: Role
) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        # Created after the bridge started and never touched since: still offline.
        mia = await desk.staff("Mia Rocha", role=role, presence=None)
        conversation_id = await desk.opens("ana")
        reply = await desk.assign(conversation_id, mia)
        assert reply.status == 200, reply.body
        assert reply.body["assignee_id"] == mia.id


async def test_a_newcomer_is_told_the_wait_at_the_back_of_the_line(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        # Nobody serves the line: the channel's first-response target is the promise.
        assert desk.router.expected_wait("telegram") == 900
        assert desk.router.expected_wait("webchat") == 300
        await desk.staff("Mia Rocha", capacity=1)
        await desk.opens("zoe")
        empty_line = desk.router.expected_wait("email")
        await desk.opens("ana")
        await desk.opens("ben")
        longer_line = desk.router.expected_wait("email")
    assert 0 < empty_line <= longer_line <= 43_200
