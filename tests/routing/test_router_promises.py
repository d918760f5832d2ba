"""Promises kept and broken (`GET /api/stats`) and SLA breaches (`sla.breached` on the bus),
driven by a manual clock and :meth:`Router.run_due`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.events import SlaBreached
from bridge.model import Priority
from tests.routing.router_support import MONDAY, NO_ACKS, Desk, Events, open_desk


async def stats(desk: Desk, **query: int) -> dict[str, Any]:
    staff = await desk.staff("Stat Reader", presence=None)
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    reply = await desk.call("GET", f"/api/stats{suffix}", staff)
    assert reply.status == 200, reply.body
    result: dict[str, Any] = reply.body
    return result


async def test_stats_report_promises_kept_and_broken_per_channel(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        mia = await desk.staff("Mia Rocha", presence="away")
        # Nobody online: each customer is promised their channel's target, counted from the
        # acknowledgement: web chat five minutes, Telegram fifteen.
        kept = await desk.opens("ana", "Hello, my parcel is late")  # 09:00:01
        broken = await desk.opens("ben", "Hello, I was charged twice", channel="telegram")
        assert (await desk.take_next(mia)).body["id"] == kept
        assert (await desk.take_next(mia)).body["id"] == broken

        desk.clock.advance(9)  # answered 10 s after the promise of 5 minutes: kept
        assert (await desk.reply(kept, mia, "Looking into it now.")).status == 201
        desk.clock.set(MONDAY.replace(minute=16, second=42))  # 1000 s after a 900 s promise
        assert (await desk.reply(broken, mia, "Sorry for the wait!")).status == 201
        # A third customer is still waiting, well within their promise: neither kept nor broken.
        await desk.opens("cid", "Hi")
        desk.clock.advance(30)

        report = await stats(desk)

    overall = report["overall"]
    assert (overall["promises"], overall["promises_kept"], overall["promises_broken"]) == (3, 1, 1)
    assert overall["promises_kept_percent"] == 50.0
    # |promised - answered| relative to the real wait: 290/10 and 100/1000, median of both.
    assert overall["estimate_error_median_percent"] == 1455.0
    webchat, telegram = report["by_channel"]["webchat"], report["by_channel"]["telegram"]
    assert (webchat["promises"], webchat["promises_kept"], webchat["promises_broken"]) == (2, 1, 0)
    assert webchat["promises_kept_percent"] == 100.0
    assert webchat["estimate_error_median_percent"] == 2900.0
    assert (telegram["promises_kept"], telegram["promises_broken"]) == (0, 1)
    assert telegram["promises_kept_percent"] == 0.0
    assert telegram["estimate_error_median_percent"] == 10.0

    live = report["live"]
    assert live["queue_length"] == 1
    assert live["oldest_wait_seconds"] == 30.0
    assert live["by_partition"] == [
        {"team": "support", "tier": 1, "length": 1, "oldest_wait_seconds": 30.0}
    ]
    assert live["agents_online"] == 0
    [row] = [a for a in live["agents"] if a["id"] == mia.id]
    assert row == {
        "id": mia.id,
        "name": "Mia Rocha",
        "presence": "away",
        "load": 2,
        "capacity": 6,
    }


async def test_an_unanswered_promise_is_broken_once_its_time_passed(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        await desk.opens("ana")
        assert (await stats(desk))["overall"]["promises_broken"] == 0
        desk.clock.advance(301)
        overall = (await stats(desk))["overall"]
        assert (overall["promises_kept"], overall["promises_broken"]) == (0, 1)
        assert overall["promises_kept_percent"] == 0.0


async def test_stats_cover_the_hours_asked_for(tmp_path: Path) -> None:
    async with open_desk(tmp_path) as desk:
        await desk.opens("ana")
        desk.clock.advance(2 * 3600)
        assert (await stats(desk, hours=1))["overall"]["promises"] == 0
        assert (await stats(desk, hours=3))["overall"]["promises"] == 1


# --- SLA -----------------------------------------------------------------------------------

SLA: dict[str, Any] = {**NO_ACKS, "first_response_targets": {"webchat": 60}}


async def breached(breaches: Events) -> list[int]:
    """The conversations that breached since the last look."""
    events = await breaches.taken()
    assert all(isinstance(e, SlaBreached) for e in events)
    return [e.conversation_id for e in events if isinstance(e, SlaBreached)]


async def test_a_customer_waiting_past_the_target_breaches_once(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=SLA) as desk:
        breaches = desk.events("sla.breached")
        result = await desk.write("ana")  # at 09:00:01
        conversation_id = result.conversation.id
        started = result.message.created_at

        await desk.tick(59)
        assert await breaches.taken() == []
        await desk.tick(1)
        [event] = await breaches.taken()
        assert isinstance(event, SlaBreached)
        assert event.conversation_id == conversation_id
        assert (event.response, event.channel, event.team) == ("first", "webchat", "support")
        assert event.started_at == started
        assert (event.due_at - started).total_seconds() == 60

        # Once per waiting period, however often the timers run.
        await desk.tick(0)
        await desk.tick(600)
        assert await breaches.taken() == []
        assert (await stats(desk))["overall"]["sla_breaches"] == 1


async def test_an_answered_customer_does_not_breach(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=SLA) as desk:
        mia = await desk.staff("Mia Rocha")
        breaches = desk.events("sla.breached")
        conversation_id = await desk.opens("ana")
        desk.clock.advance(30)
        await desk.reply(conversation_id, mia, "Hello Ana, how can I help?")
        await desk.tick(120)
        assert await breaches.taken() == []

        # Writing again starts a new wait, measured against the next-response target
        # (web chat: 300 s by default).
        await desk.write("ana", "My order 1234 has not arrived")
        await desk.tick(299)
        assert await breaches.taken() == []
        await desk.tick(1)
        [event] = await breaches.taken()
        assert isinstance(event, SlaBreached)
        assert (event.conversation_id, event.response) == (conversation_id, "next")


async def test_urgent_conversations_get_a_quarter_of_the_target(tmp_path: Path) -> None:
    async with open_desk(tmp_path, routing=SLA) as desk:
        breaches = desk.events("sla.breached")
        normal = await desk.opens("ana")
        urgent = await desk.opens("ben", after=0)
        await desk.set_priority(urgent, Priority.URGENT)

        await desk.tick(14)
        assert await breaches.taken() == []
        await desk.tick(1)
        assert await breached(breaches) == [urgent]
        await desk.tick(44)
        assert await breaches.taken() == []
        await desk.tick(1)
        assert await breached(breaches) == [normal]


async def test_a_breach_counts_business_hours_only(tmp_path: Path) -> None:
    # Monday to Friday, 09:00-18:00 UTC.
    routing = {**SLA, "teams": {"support": {"timezone": "UTC", "always_open": False}}}
    friday_evening = MONDAY.replace(day=9, hour=17, minute=59, second=30)
    async with open_desk(tmp_path, start=friday_evening, routing=routing) as desk:
        breaches = desk.events("sla.breached")
        await desk.opens("ana")  # 17:59:31 on Friday: 29 s of the target before closing
        await desk.tick(3600)
        assert await breaches.taken() == []
        # The other 31 s run from Monday 09:00.
        desk.clock.set(MONDAY.replace(day=12, second=30))
        await desk.tick(0)
        assert await breaches.taken() == []
        await desk.tick(1)
        assert len(await breaches.taken()) == 1
