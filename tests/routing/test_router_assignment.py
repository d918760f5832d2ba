"""Automatic assignment: who gets a conversation, never above capacity, presence, idle
conversations freeing their slot, reopening."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.model import Role
from tests.routing.router_support import NO_ACKS, Desk, Staff, open_desk


async def holder(desk: Desk, conversation_id: int, staff: Staff) -> tuple[str, int | None]:
    body = await desk.conversation(conversation_id, staff)
    return body["status"], body["assignee_id"]


async def assigned_to(desk: Desk, staff: Staff) -> list[int]:
    reply = await desk.call(
        "GET", f"/api/conversations?status=assigned&assignee={staff.id}&limit=200", staff
    )
    return sorted(c["id"] for c in reply.body["items"])


async def test_a_new_conversation_goes_to_the_online_agent_with_the_least_load(
    tmp_path: Path,
) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        ivo = await desk.staff("Ivo Dias")
        first = await desk.opens("ana")
        second = await desk.opens("ben")
        assert {(await holder(desk, c, mia))[1] for c in (first, second)} == {mia.id, ivo.id}
        owner_of_first = (await holder(desk, first, mia))[1]
        other = ivo if owner_of_first == mia.id else mia
        owner = mia if other is ivo else ivo
        # The owner of the first one frees up: the next conversation is theirs (load 0 < 1).
        await desk.resolve(first, owner)
        third = await desk.opens("cid")
        assert await holder(desk, third, mia) == ("assigned", owner.id)
        assert await assigned_to(desk, owner) == [third]
        assert await assigned_to(desk, other) == [second]


async def test_on_equal_load_the_agent_idle_the_longest_gets_it(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        ivo = await desk.staff("Ivo Dias")
        first = await desk.opens("ana")  # equal load, both never assigned: either one
        second = await desk.opens("ben")  # the other one (least load)
        first_owner = mia if (await holder(desk, first, mia))[1] == mia.id else ivo
        second_owner = ivo if first_owner is mia else mia
        assert (await holder(desk, second, mia))[1] == second_owner.id
        # The first owner frees up and gets the third: both hold one now, and the second
        # owner's last assignment is the older one.
        await desk.resolve(first, first_owner)
        third = await desk.opens("cid")
        assert (await holder(desk, third, mia))[1] == first_owner.id
        fourth = await desk.opens("dan")
        assert (await holder(desk, fourth, mia))[1] == second_owner.id


async def test_nobody_is_assigned_above_capacity(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        ivo = await desk.staff("Ivo Dias")
        ids = [await desk.opens(f"customer-{n}") for n in range(13)]

        mine, his = await assigned_to(desk, mia), await assigned_to(desk, ivo)
        assert (len(mine), len(his)) == (6, 6)
        assert sorted(mine + his) == ids[:12], "the first twelve in line were served"
        queue = await desk.queue(mia)
        assert (queue["length"], [i["conversation_id"] for i in queue["items"]]) == (1, [ids[12]])

        # A slot frees up: the one waiting goes to that agent, who is back at six.
        await desk.resolve(his[0], ivo)
        assert await holder(desk, ids[12], mia) == ("assigned", ivo.id)
        assert len(await assigned_to(desk, ivo)) == 6
        assert len(await assigned_to(desk, mia)) == 6
        assert (await desk.queue(mia))["length"] == 0


async def test_a_supervisor_cannot_hand_a_conversation_to_a_full_agent(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        lead = await desk.staff("Lea Lead", role=Role.SUPERVISOR, presence="away")
        mia = await desk.staff("Mia Rocha", capacity=1)
        held = await desk.opens("ana")
        waiting = await desk.opens("ben")
        assert await holder(desk, held, lead) == ("assigned", mia.id)
        refused = await desk.assign(waiting, lead, {"agent_id": mia.id})
        assert refused.status == 409
        assert "capacity" in refused.body["message"]
        assert await holder(desk, waiting, lead) == ("queued", None)


@pytest.mark.parametrize("presence", ["away", "dnd", "offline"])
async def test_agents_not_online_get_nothing_new(tmp_path: Path, presence: str) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence=presence)
        conversation_id = await desk.opens("ana")
        await desk.tick(5)
        assert await holder(desk, conversation_id, mia) == ("queued", None)
        assert (await desk.presence(mia, "online")).status == 200
        assert await holder(desk, conversation_id, mia) == ("assigned", mia.id)


async def test_an_agent_coming_online_gets_the_queue_up_to_capacity(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", capacity=2, presence="away")
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]
        assert await desk.queued_ids(mia) == ids
        await desk.presence(mia, "online")
        assert await assigned_to(desk, mia) == ids[:2]
        assert await desk.queued_ids(mia) == ids[2:]


async def test_going_away_keeps_what_an_agent_holds(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        conversation_id = await desk.opens("ana")
        await desk.presence(mia, "away")
        assert await holder(desk, conversation_id, mia) == ("assigned", mia.id)
        # ...but takes nothing new.
        later = await desk.opens("ben")
        assert await holder(desk, later, mia) == ("queued", None)


async def test_going_offline_requeues_what_an_agent_held(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", capacity=2)
        ids = [await desk.opens(name) for name in ("ana", "ben", "cid")]
        assert await assigned_to(desk, mia) == ids[:2]
        before = await desk.conversation(ids[0], mia)

        await desk.presence(mia, "offline")
        assert [await holder(desk, c, mia) for c in ids] == [("queued", None)] * 3
        # They keep their place by waiting time: the two she held are ahead again.
        assert await desk.queued_ids(mia) == ids
        assert (await desk.conversation(ids[0], mia))["waiting_since"] == before["waiting_since"]

        # Somebody else online picks them up.
        ivo = await desk.staff("Ivo Dias", capacity=2)
        assert await assigned_to(desk, ivo) == ids[:2]


async def test_going_offline_can_keep_what_an_agent_held(tmp_path: Path) -> None:
    routing = {**NO_ACKS, "requeue_on_offline": False}
    async with open_desk(tmp_path, routing=routing) as desk:
        mia = await desk.staff("Mia Rocha")
        conversation_id = await desk.opens("ana")
        await desk.presence(mia, "offline")
        await desk.staff("Ivo Dias")
        assert await holder(desk, conversation_id, mia) == ("assigned", mia.id)


IDLE: dict[str, Any] = {**NO_ACKS, "idle_after": {"webchat": 60}}


@pytest.mark.parametrize(
    ("returning", "served_next"),
    [("front", "returning"), ("arrival", "later")],
)
async def test_a_conversation_waiting_on_the_customer_frees_its_slot(
    tmp_path: Path, returning: str, served_next: str
) -> None:
    async with open_desk(tmp_path, routing={**IDLE, "returning_position": returning}) as desk:
        mia = await desk.staff("Mia Rocha", capacity=1)
        answered = await desk.opens("ana")
        waiting = await desk.opens("ben")
        assert await holder(desk, answered, mia) == ("assigned", mia.id)
        assert await holder(desk, waiting, mia) == ("queued", None)
        assert (await desk.reply(answered, mia, "Could you send the order number?")).status == 201

        await desk.tick(59)
        assert await holder(desk, answered, mia) == ("assigned", mia.id), "not idle yet"
        await desk.tick(2)
        assert await holder(desk, answered, mia) == ("pending_customer", mia.id)
        # Her slot went to the one waiting.
        assert await holder(desk, waiting, mia) == ("assigned", mia.id)

        later = await desk.opens("cid")
        assert await desk.queued_ids(mia) == [later]
        # The customer answers: back in the line, at the front (its first place) or the end.
        await desk.write("ana", "it is 12345")
        expected = [answered, later] if returning == "front" else [later, answered]
        assert await desk.queued_ids(mia) == expected
        assert await holder(desk, answered, mia) == ("queued", None)

        await desk.resolve(waiting, mia)
        first_served = answered if served_next == "returning" else later
        assert await holder(desk, first_served, mia) == ("assigned", mia.id)


async def test_an_unanswered_conversation_never_goes_idle(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=IDLE) as desk:
        mia = await desk.staff("Mia Rocha")
        conversation_id = await desk.opens("ana")
        await desk.tick(600)
        assert await holder(desk, conversation_id, mia) == ("assigned", mia.id)


async def reopen(desk: Desk, conversation_id: int, staff: Staff) -> Any:
    return await desk.call("POST", f"/api/conversations/{conversation_id}/reopen", staff)


async def test_reopening_gives_a_resolved_conversation_to_the_agent(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        conversation_id = await desk.opens("ana")
        assert (await desk.take_next(mia)).body["id"] == conversation_id
        await desk.reply(conversation_id, mia, "Done!")
        assert (await desk.resolve(conversation_id, mia)).status == 200

        again = await reopen(desk, conversation_id, mia)
        assert again.status == 200, again.body
        assert (again.body["status"], again.body["assignee_id"]) == ("assigned", mia.id)
        assert again.body["resolved_at"] is None
        assert await holder(desk, conversation_id, mia) == ("assigned", mia.id)


@pytest.mark.parametrize("status", ["queued", "assigned"])
async def test_reopening_an_open_conversation_is_a_conflict(tmp_path: Path, status: str) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="online" if status == "assigned" else "away")
        conversation_id = await desk.opens("ana")
        assert (await holder(desk, conversation_id, mia))[0] == status
        refused = await reopen(desk, conversation_id, mia)
        assert refused.status == 409
        assert refused.body["error"] == "conflict"
        assert (await holder(desk, conversation_id, mia))[0] == status


async def test_reopening_while_online_gives_it_to_the_requesting_agent(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha")
        conversation_id = await desk.opens("ana")
        other = await desk.opens("ben")
        assert await holder(desk, conversation_id, mia) == ("assigned", mia.id)
        assert await holder(desk, other, mia) == ("assigned", mia.id)
        await desk.resolve(conversation_id, mia)
        ivo = await desk.staff("Ivo Dias")  # online, holding nothing

        again = await reopen(desk, conversation_id, mia)
        assert again.status == 200
        # What the response says and what is true must agree, and it is the requester's.
        assert (again.body["status"], again.body["assignee_id"]) == ("assigned", mia.id)
        assert await holder(desk, conversation_id, ivo) == ("assigned", mia.id)


async def test_reopening_for_a_full_agent_leaves_it_in_the_queue(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", capacity=1)
        done = await desk.opens("ana")
        await desk.resolve(done, mia)
        busy = await desk.opens("ben")
        assert await holder(desk, busy, mia) == ("assigned", mia.id)
        again = await reopen(desk, done, mia)
        assert again.status == 200
        assert (again.body["status"], again.body["assignee_id"]) == ("queued", None)
        assert await desk.queued_ids(mia) == [done]


async def test_reopening_gives_it_to_an_agent_with_room_even_when_others_wait(
    tmp_path: Path,
) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        done = await desk.opens("ana")
        assert (await desk.take_next(mia)).body["id"] == done
        await desk.resolve(done, mia)
        await desk.opens("ben")  # somebody else is waiting meanwhile
        again = await reopen(desk, done, mia)
        assert again.status == 200
        assert (again.body["status"], again.body["assignee_id"]) == ("assigned", mia.id)


async def test_a_supervisor_reopens_past_the_queue(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        lead = await desk.staff("Lea Lead", role=Role.SUPERVISOR, presence="away")
        done = await desk.opens("ana")
        await desk.resolve(done, lead)
        await desk.opens("ben")
        again = await reopen(desk, done, lead)
        assert (again.body["status"], again.body["assignee_id"]) == ("assigned", lead.id)


@pytest.mark.parametrize("body", [{"presence": "busy"}, {"presence": 1}, {}])
async def test_a_bad_presence_is_refused_with_the_choices(tmp_path: Path, body: Any) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        reply = await desk.call("PATCH", "/api/agents/me", mia, body)
        assert reply.status == 400
        assert reply.body["error"] == "invalid_input"
        for choice in ("online", "away", "dnd"):
            assert choice in reply.body["message"]
        # Nothing changed: the router still sees her away.
        stats = await desk.call("GET", "/api/stats", mia)
        [me] = [a for a in stats.body["live"]["agents"] if a["id"] == mia.id]
        assert me["presence"] == "away"
        assert (await desk.presence(mia, "dnd")).body["presence"] == "dnd"


async def test_the_agent_sees_their_new_presence(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=NO_ACKS) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        me = await desk.call("GET", "/api/agents/me", mia)
        assert me.body["presence"] == "away"
