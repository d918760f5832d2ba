"""The event bus contract: the in-process bus and the Redis bus behave alike for one process,
and the Redis bus carries events between processes (two buses on one Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from bridge.events import (
    AgentUpdated,
    ConversationUpdated,
    CustomerTyping,
    Event,
    MessageAdded,
)
from bridge.model import (
    Agent,
    Attachment,
    Author,
    Conversation,
    ConversationStatus,
    Message,
    MessageEdit,
    Presence,
    Priority,
    Role,
    ThreadRef,
    Visibility,
)
from storage.bus import InProcessBus
from storage.event_codec import decode, encode
from storage.locks import RedisSingletons
from storage.redis_bus import RedisBus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
THREAD = ThreadRef("telegram", "default", "42")


def conversation() -> Conversation:
    return Conversation(
        id=7,
        customer_id=3,
        origin=THREAD,
        status=ConversationStatus.QUEUED,
        team="support",
        tier=1,
        priority=Priority.HIGH,
        created_at=NOW,
        updated_at=NOW,
        waiting_since=NOW,
    )


def sample_events() -> list[Event]:
    message = Message(
        id=11,
        conversation_id=7,
        author=Author.CUSTOMER,
        author_name="Ana",
        visibility=Visibility.PUBLIC,
        text="привет <b>",
        created_at=NOW,
        author_id=3,
        attachments=(Attachment("a.pdf", "application/pdf", 3, "k" * 64),),
        edited=True,
        edits=(MessageEdit("old", NOW),),
    )
    agent = Agent(
        id=1,
        name="Bea",
        email="bea@example.com",
        role=Role.SUPERVISOR,
        tier=2,
        teams=("support", "billing"),
        capacity=6,
        presence=Presence.ONLINE,
        created_at=NOW,
    )
    return [
        MessageAdded(message, conversation(), opened=True, language_hint="ru"),
        ConversationUpdated(conversation(), "assigned"),
        AgentUpdated(agent),
        CustomerTyping(THREAD, NOW),
    ]


def test_every_event_kind_survives_encoding() -> None:
    for event in sample_events():
        assert decode(encode(event)) == event
    with pytest.raises(ValueError, match="unknown event kind"):
        decode(b'{"kind": "nope"}')


@pytest.fixture(params=["memory", pytest.param("redis")])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[InProcessBus | RedisBus]:
    if request.param == "memory":
        memory = InProcessBus()
        yield memory
        await memory.stop()
        return
    url = request.getfixturevalue("redis_url")
    shared = RedisBus(url, prefix=f"test-{secrets.token_hex(4)}")
    await shared.start()
    yield shared
    await shared.stop()


async def take(subscription: object, count: int) -> list[Event]:
    got: list[Event] = []
    async with asyncio.timeout(5):
        async for event in subscription:  # type: ignore[attr-defined]
            got.append(event)
            if len(got) == count:
                break
    return got


async def test_subscribers_get_their_kinds_in_order(bus: InProcessBus | RedisBus) -> None:
    everything = bus.subscribe()
    messages = bus.subscribe(frozenset({"message.added"}))
    events = sample_events()
    await bus.publish(events)
    assert await take(everything, len(events)) == events
    assert await take(messages, 1) == events[:1]
    await messages.close()
    assert bus.state().ready


async def test_events_cross_between_processes(redis_url: str) -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    one, two = RedisBus(redis_url, prefix=prefix), RedisBus(redis_url, prefix=prefix)
    await one.start()
    await two.start()
    try:
        on_two = two.subscribe(frozenset({"message.added", "conversation.updated"}))
        on_one = one.subscribe()
        events = sample_events()
        await one.publish(events[:2])
        await two.publish(events[2:])
        assert await take(on_two, 2) == events[:2]
        # Each process sees its own events once (at once) and the other's once (via Redis).
        assert sorted(e.kind for e in await take(on_one, 4)) == sorted(e.kind for e in events)
        assert on_one.backlog() == 0
    finally:
        await one.stop()
        await two.stop()


async def test_a_bus_keeps_events_while_redis_is_away(redis_url: str) -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    away = RedisBus("redis://127.0.0.1:1/0", prefix=prefix)  # nothing listens there
    await away.start()
    local = away.subscribe()
    await away.publish(sample_events()[:1])
    assert len(await take(local, 1)) == 1  # local subscribers are not held up
    for _ in range(100):  # the sender notices within its first attempt
        if not away.state().ready:
            break
        await asyncio.sleep(0.05)
    assert "waiting to be shared" in away.state().detail
    await away.stop()


async def test_one_process_runs_a_singleton_and_another_takes_over(redis_url: str) -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    first = RedisSingletons(redis_url, prefix=prefix, ttl=0.6, retry=0.1)
    second = RedisSingletons(redis_url, prefix=prefix, ttl=0.6, retry=0.1)
    running: list[str] = []
    started = {"first": asyncio.Event(), "second": asyncio.Event()}

    def work(name: str):  # type: ignore[no-untyped-def]
        async def loop() -> None:
            running.append(name)
            started[name].set()
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return loop

    one = asyncio.create_task(first.run("telegram:default:polling", work("first")))
    async with asyncio.timeout(5):
        await started["first"].wait()
    two = asyncio.create_task(second.run("telegram:default:polling", work("second")))
    await asyncio.sleep(0.5)  # the second keeps trying meanwhile: it must not start
    assert running == ["first"]
    assert first.holding() == {"telegram:default:polling"}
    # The holder dies without releasing (like kill -9): the lease runs out, the other takes it.
    one.cancel()
    await asyncio.gather(one, return_exceptions=True)
    client = Redis.from_url(redis_url)
    await client.delete(f"{prefix}:lock:never-held")
    await client.aclose()
    async with asyncio.timeout(5):
        await started["second"].wait()
    assert running == ["second"]
    two.cancel()
    await asyncio.gather(two, return_exceptions=True)
    await first.close()
    await second.close()


def test_encoding_is_the_events_own_payload() -> None:
    """The Redis codec's fast encoder writes exactly :func:`bridge.events.event_payload`."""
    import json

    from bridge.events import event_payload

    for event in sample_events():
        assert json.loads(encode(event)) == event_payload(event)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_kind_round_trips_whatever_its_values(data: st.DataObject) -> None:
    """Every event kind, with values hypothesis makes from its type hints: the codec's
    compiled converters must agree with :func:`bridge.events.event_payload` and give the
    event back."""
    import json

    from bridge.events import event_payload
    from storage.event_codec import _all_kinds

    for kind in sorted(_all_kinds()):
        event = data.draw(st.from_type(_all_kinds()[kind]), label=kind)
        assume(event == event)  # a NaN somewhere: JSON cannot say it
        assert json.loads(encode(event)) == event_payload(event)
        assert decode(encode(event)) == event
