from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

from bridge.clock import ManualClock, SystemClock
from bridge.dispatcher import Dispatcher, RetryPolicy
from bridge.errors import PermanentChannelError, TransientChannelError
from bridge.events import DeliveryFailed, DeliveryRetrying, DeliverySent
from bridge.ingest import Ingestor
from bridge.model import ConversationStatus, DeliveryState, ThreadRef
from tests.core.stack import POLICY, Stack, core_stack
from tests.factories import inbound
from tests.fakes import RecordingAdapter

FAST = RetryPolicy(initial=0.01, maximum=0.05, in_process_attempts=3, max_attempts=6)


def dispatcher_for(stack: Stack, adapter: RecordingAdapter, **kwargs: object) -> Dispatcher:
    options: dict[str, object] = {"retry": FAST, "poll_interval": 0.05, "owner": "t1"}
    options.update(kwargs)
    return Dispatcher(
        stack.storage.outbox,
        {"webchat:default": adapter},
        stack.bus,
        stack.clock,
        **options,  # type: ignore[arg-type]
    )


async def open_conversation(stack: Stack, visitor: str = "v1") -> int:
    ingestor = Ingestor(stack.storage.ingest, stack.bus, POLICY, stack.clock)
    await ingestor.start()
    result = await ingestor.ingest(
        inbound(
            f"{visitor}-1", at=stack.clock.now(), thread=ThreadRef("webchat", "default", visitor)
        )
    )
    await ingestor.stop()
    return result.conversation.id


async def states(stack: Stack, conversation_id: int) -> list[tuple[str, int, str | None]]:
    return [
        (v.state, v.attempts, v.last_error)
        for v in await stack.storage.conversations.deliveries_for(conversation_id)
    ]


async def test_a_reply_is_sent_once_and_recorded(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        adapter = RecordingAdapter()
        dispatcher = dispatcher_for(stack, adapter)
        events = stack.bus.subscribe(frozenset({"delivery.sent"}))
        await dispatcher.start()
        posted = await stack.service.reply(conversation, stack.agent, "hello there", internal=False)
        await adapter.wait_for(1)
        event = await asyncio.wait_for(anext(aiter(events)), 5)
        await dispatcher.stop()
        assert [s.text for s in adapter.sent] == ["hello there"]
        assert isinstance(event, DeliverySent)
        assert event.message_id == posted.message.id
        assert event.external_id == f"ext-{posted.message.id}"
        assert await states(stack, conversation) == [("sent", 1, None)]


async def test_notes_are_never_sent(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        adapter = RecordingAdapter()
        dispatcher = dispatcher_for(stack, adapter)
        await dispatcher.start()
        await stack.service.reply(
            conversation, stack.agent, "internal: refund abuse?", internal=True
        )
        await stack.service.reply(
            conversation, stack.agent, "public after the note", internal=False
        )
        await adapter.wait_for(1)
        await dispatcher.stop()
        assert [s.text for s in adapter.sent] == ["public after the note"]
        assert adapter.calls == 1


async def test_transient_errors_are_retried_no_sooner_than_retry_after(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        adapter = RecordingAdapter(
            failures=[
                TransientChannelError("429", retry_after=0.2),
                TransientChannelError("timeout"),
            ]
        )
        dispatcher = dispatcher_for(stack, adapter)
        await dispatcher.start()
        started = asyncio.get_running_loop().time()
        await stack.service.reply(conversation, stack.agent, "eventually", internal=False)
        await adapter.wait_for(1)
        await dispatcher.stop()
        assert adapter.sent[0].at - started >= 0.2
        assert adapter.sent[0].attempt == 3
        assert await states(stack, conversation) == [("sent", 3, None)]


async def test_a_retry_after_beyond_the_lease_gives_the_row_back_at_once(
    tmp_path: Path,
) -> None:
    """Waiting 30 s in place under a 4 s lease would let another process claim the row and
    send it too: the claim ends at once, the row's next attempt set past the Retry-After."""
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        adapter = RecordingAdapter(failures=[TransientChannelError("429", retry_after=30)])
        policy = RetryPolicy(
            initial=0.01, maximum=0.05, in_process_attempts=3, lease=timedelta(seconds=4)
        )
        dispatcher = dispatcher_for(stack, adapter, retry=policy)
        events = stack.bus.subscribe(frozenset({"delivery.retrying"}))
        await dispatcher.start()
        started = stack.clock.now()
        await stack.service.reply(conversation, stack.agent, "after the limit", internal=False)
        retrying = await asyncio.wait_for(anext(aiter(events)), 2)
        await dispatcher.stop()
        assert adapter.calls == 1
        assert isinstance(retrying, DeliveryRetrying)
        assert retrying.next_attempt_at >= started + timedelta(seconds=30)
        assert await states(stack, conversation) == [("pending", 1, "429")]


async def test_a_long_outage_gives_the_row_back_for_later(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        adapter = RecordingAdapter(failures=[TransientChannelError("503")] * 3)
        policy = RetryPolicy(initial=0.01, maximum=0.05, in_process_attempts=3, max_attempts=10)
        dispatcher = dispatcher_for(stack, adapter, retry=policy)
        await dispatcher.start()
        await stack.service.reply(conversation, stack.agent, "after the outage", internal=False)
        # The three in-process attempts fail; the row goes back with a later attempt time and
        # is sent on the next claim.
        await adapter.wait_for(1)
        await dispatcher.stop()
        assert adapter.calls == 4
        assert await states(stack, conversation) == [("sent", 4, None)]


async def test_a_permanent_error_fails_the_delivery_and_unblocks_the_next(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        adapter = RecordingAdapter(failures=[PermanentChannelError("bot was blocked by the user")])
        dispatcher = dispatcher_for(stack, adapter)
        events = stack.bus.subscribe(frozenset({"delivery.failed"}))
        await dispatcher.start()
        await stack.service.reply(conversation, stack.agent, "first", internal=False)
        await stack.service.reply(conversation, stack.agent, "second", internal=False)
        await adapter.wait_for(1)
        failed = await asyncio.wait_for(anext(aiter(events)), 5)
        await dispatcher.stop()
        assert [s.text for s in adapter.sent] == ["second"]
        assert isinstance(failed, DeliveryFailed)
        assert failed.state is DeliveryState.FAILED
        assert failed.reason == "bot was blocked by the user"
        assert await states(stack, conversation) == [
            ("failed", 1, "bot was blocked by the user"),
            ("sent", 1, None),
        ]


async def test_the_retry_budget_ends_in_dead(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        adapter = RecordingAdapter(failures=[TransientChannelError("502")] * 50)
        policy = RetryPolicy(initial=0.001, maximum=0.002, in_process_attempts=2, max_attempts=4)
        dispatcher = dispatcher_for(stack, adapter, retry=policy)
        events = stack.bus.subscribe(frozenset({"delivery.failed"}))
        await dispatcher.start()
        await stack.service.reply(conversation, stack.agent, "never", internal=False)
        dead = await asyncio.wait_for(anext(aiter(events)), 10)
        await dispatcher.stop()
        assert isinstance(dead, DeliveryFailed)
        assert dead.state is DeliveryState.DEAD
        assert adapter.calls == 4
        assert await states(stack, conversation) == [("dead", 4, "502")]


async def test_each_conversation_keeps_its_order_under_concurrency(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversations = [await open_conversation(stack, f"v{n}") for n in range(4)]
        rng = random.Random(7)
        adapter = RecordingAdapter(delay=lambda _out: rng.uniform(0, 0.01))
        dispatcher = dispatcher_for(stack, adapter)
        await dispatcher.start()
        for i in range(10):
            for n, conversation in enumerate(conversations):
                await stack.service.reply(conversation, stack.agent, f"v{n}:{i}", internal=False)
        await adapter.wait_for(40)
        await dispatcher.stop()
        for n in range(4):
            texts = [s.text for s in adapter.sent if s.thread_key == f"v{n}"]
            assert texts == [f"v{n}:{i}" for i in range(10)]


async def test_a_stopped_dispatcher_resumes_after_restart_without_duplicates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.db"
    async with core_stack(path) as stack:
        conversation = await open_conversation(stack)
        for i in range(6):
            await stack.service.reply(conversation, stack.agent, f"r{i}", internal=False)
        # The first process gets through two sends, then hangs on the third and is stopped.
        gate = asyncio.Event()
        first = RecordingAdapter()
        original_send = first.send

        async def send_two_then_hang(out):
            if len(first.sent) >= 2:
                await gate.wait()
            return await original_send(out)

        first.send = send_two_then_hang  # type: ignore[method-assign]
        dispatcher = dispatcher_for(stack, first, owner="process-1")
        await dispatcher.start()
        await first.wait_for(2)
        await dispatcher.stop(timeout=0.2)
    # A new process on the same database finishes the job.
    async with core_stack(path.with_name("b.db"), clock=SystemClock()) as stack:
        second = RecordingAdapter()
        dispatcher = dispatcher_for(stack, second, owner="process-2")
        await dispatcher.start()
        await second.wait_for(4)
        await dispatcher.stop()
        delivered = [s.text for s in first.sent] + [s.text for s in second.sent]
        assert delivered == [f"r{i}" for i in range(6)]
        assert second.duplicates == 0


async def test_a_dead_dispatchers_claims_are_taken_over_after_the_lease(tmp_path: Path) -> None:
    clock = ManualClock()
    async with core_stack(tmp_path / "b.db", clock=clock) as stack:
        conversation = await open_conversation(stack)
        await stack.service.reply(conversation, stack.agent, "orphan", internal=False)
        # A process claims the delivery and dies before recording anything.
        [claimed] = await stack.storage.outbox.claim_due(
            clock.now(), "crashed", timedelta(seconds=60), 10
        )
        adapter = RecordingAdapter()
        dispatcher = dispatcher_for(stack, adapter)
        await dispatcher.start()
        await asyncio.sleep(0.2)  # the survivor polls a few times: the lease still holds
        assert adapter.calls == 0
        clock.advance(61)
        dispatcher.wake()
        await adapter.wait_for(1)
        await dispatcher.stop()
        assert adapter.sent[0].key == claimed.delivery.idempotency_key


async def test_stop_drains_what_is_due(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversations = [await open_conversation(stack, f"v{n}") for n in range(5)]
        adapter = RecordingAdapter(delay=lambda _out: 0.005)
        dispatcher = dispatcher_for(stack, adapter, poll_interval=5.0)
        for conversation in conversations:
            for i in range(4):
                await stack.service.reply(conversation, stack.agent, f"{i}", internal=False)
        await dispatcher.start()
        await dispatcher.stop(timeout=10)
        assert len(adapter.sent) == 20
        for conversation in conversations:
            assert {s for s, _, _ in await states(stack, conversation)} == {"sent"}


async def test_a_destination_without_a_running_adapter_waits_without_spending_attempts(
    tmp_path: Path,
) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        dispatcher = Dispatcher(
            stack.storage.outbox,
            {},
            stack.bus,
            stack.clock,
            owner="t",
            retry=FAST,
            poll_interval=0.05,
        )
        events = stack.bus.subscribe(frozenset({"delivery.retrying"}))
        await dispatcher.start()
        await stack.service.reply(conversation, stack.agent, "waiting", internal=False)
        retrying = await asyncio.wait_for(anext(aiter(events)), 5)
        await dispatcher.stop()
        assert isinstance(retrying, DeliveryRetrying)
        assert retrying.attempts == 0
        [(state, attempts, error)] = await states(stack, conversation)
        assert (state, attempts) == ("pending", 0)
        assert error == "channel webchat:default is not running"
        resolved = await stack.service.resolve(conversation)
        assert resolved.status is ConversationStatus.RESOLVED


async def test_a_recovered_platform_gets_its_waiting_deliveries_at_once(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        conversation = await open_conversation(stack)
        # One transient failure, then a backoff of an hour: far longer than the test.
        adapter = RecordingAdapter(failures=[TransientChannelError("502 bad gateway")])
        slow = RetryPolicy(initial=3600, maximum=3600, in_process_attempts=1, max_attempts=6)
        dispatcher = dispatcher_for(stack, adapter, retry=slow)
        retrying = stack.bus.subscribe(frozenset({"delivery.retrying"}))
        await dispatcher.start()
        await stack.service.reply(conversation, stack.agent, "hello", internal=False)
        await asyncio.wait_for(anext(aiter(retrying)), 5)
        assert adapter.sent == []
        assert await dispatcher.destination_recovered("webchat:default") == 1
        await adapter.wait_for(1)
        assert await dispatcher.destination_recovered("webchat:default") == 0
        await dispatcher.stop()
        assert [s.text for s in adapter.sent] == ["hello"]
