from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from bridge.clock import SystemClock
from bridge.events import ConversationOpened, MessageAdded
from bridge.inbound import InboundMessage, IngestResult
from bridge.ingest import Ingestor, IngestStopped
from bridge.model import ThreadRef
from bridge.ports import ConversationPolicy, IngestStore
from tests.core.stack import POLICY, core_stack
from tests.factories import inbound


class Poisoned:
    """A store that refuses any batch containing the external id ``poison``."""

    def __init__(self, inner: IngestStore) -> None:
        self.inner = inner
        self.batch_sizes: list[int] = []

    async def ingest_batch(
        self, items: Sequence[InboundMessage], policy: ConversationPolicy, now: datetime
    ) -> list[IngestResult]:
        self.batch_sizes.append(len(items))
        if any(i.external_id == "poison" for i in items):
            raise RuntimeError("disk on fire")
        return await self.inner.ingest_batch(items, policy, now)


def thread(n: int) -> ThreadRef:
    return ThreadRef("webchat", "default", f"v{n}")


async def test_concurrent_messages_are_committed_in_batches(tmp_path: Path) -> None:
    clock = SystemClock()
    async with core_stack(tmp_path / "b.db") as stack:
        store = Poisoned(stack.storage.ingest)
        ingestor = Ingestor(store, stack.bus, POLICY, clock)
        events = stack.bus.subscribe()
        await ingestor.start()
        results = await asyncio.gather(
            *(
                ingestor.ingest(inbound(f"m{n}", at=clock.now(), thread=thread(n % 50)))
                for n in range(300)
            )
        )
        await ingestor.stop()
        assert all(not r.duplicate for r in results)
        assert len({r.message.id for r in results}) == 300
        assert len({r.conversation.id for r in results}) == 50
        # Group commit happened: far fewer transactions than messages.
        assert sum(store.batch_sizes) == 300
        assert len(store.batch_sizes) < 100
        kinds = []
        while len(kinds) < 350:
            kinds.append(type(await asyncio.wait_for(anext(aiter(events)), 5)))
        assert kinds.count(MessageAdded) == 300
        assert kinds.count(ConversationOpened) == 50
        page = await stack.storage.conversations.list_conversations(limit=200)
        assert len(page.items) == 50


async def test_one_bad_message_fails_only_its_own_caller(tmp_path: Path) -> None:
    clock = SystemClock()
    async with core_stack(tmp_path / "b.db") as stack:
        store = Poisoned(stack.storage.ingest)
        ingestor = Ingestor(store, stack.bus, POLICY, clock)
        await ingestor.start()
        items = [inbound(f"m{n}", at=clock.now(), thread=thread(n)) for n in range(10)]
        items.insert(5, inbound("poison", at=clock.now(), thread=thread(99)))
        outcomes = await asyncio.gather(
            *(ingestor.ingest(i) for i in items), return_exceptions=True
        )
        await ingestor.stop()
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failed) == 1
        assert str(failed[0]) == "disk on fire"
        assert outcomes.index(failed[0]) == 5
        assert sum(1 for o in outcomes if isinstance(o, IngestResult)) == 10


async def test_stop_commits_what_was_handed_in_and_refuses_the_rest(tmp_path: Path) -> None:
    clock = SystemClock()
    async with core_stack(tmp_path / "b.db") as stack:
        ingestor = Ingestor(stack.storage.ingest, stack.bus, POLICY, clock)
        await ingestor.start()
        pending = [
            asyncio.create_task(ingestor.ingest(inbound(f"m{n}", at=clock.now(), thread=thread(n))))
            for n in range(50)
        ]
        await asyncio.sleep(0)  # let them queue
        await ingestor.stop()
        results = await asyncio.gather(*pending)
        assert len(results) == 50
        with pytest.raises(IngestStopped):
            await ingestor.ingest(inbound("late", at=clock.now()))
        page = await stack.storage.conversations.list_conversations(limit=100)
        assert len(page.items) == 50


async def test_duplicates_raise_no_events(tmp_path: Path) -> None:
    clock = SystemClock()
    async with core_stack(tmp_path / "b.db") as stack:
        ingestor = Ingestor(stack.storage.ingest, stack.bus, POLICY, clock)
        await ingestor.start()
        first = await ingestor.ingest(inbound("m1", at=clock.now()))
        events = stack.bus.subscribe()
        again = await ingestor.ingest(inbound("m1", at=clock.now()))
        marker = await ingestor.ingest(inbound("m2", at=clock.now()))
        await ingestor.stop()
        assert again.duplicate
        assert again.message.id == first.message.id
        event = await asyncio.wait_for(anext(aiter(events)), 5)
        assert isinstance(event, MessageAdded)
        assert event.message.id == marker.message.id
