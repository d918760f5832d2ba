"""Agent edits, held replies, withdrawals, customer edits and bounces through the core."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.conversations import ConversationService
from bridge.dispatcher import Dispatcher
from bridge.errors import Forbidden, InvalidInput
from bridge.events import DeliveryFailed, MessageEdited, MessageRetracted
from bridge.inbound import InboundEdit
from bridge.ingest import Ingestor
from bridge.model import Attachment, ThreadRef
from bridge.outbound import Capabilities
from bridge.ports import NewAgent
from tests.core.stack import POLICY, Stack, core_stack
from tests.core.test_dispatcher import FAST
from tests.factories import inbound
from tests.fakes import RecordingAdapter

CHAT = ThreadRef("telegram", "default", "42")


def telegram_like() -> RecordingAdapter:
    return RecordingAdapter(channel="telegram", capabilities=Capabilities(edits=True))


def wire(stack: Stack, adapter: RecordingAdapter) -> tuple[Dispatcher, ConversationService]:
    dispatcher = Dispatcher(
        stack.storage.outbox,
        {"telegram:default": adapter},
        stack.bus,
        stack.clock,
        owner="t1",
        retry=FAST,
        poll_interval=0.05,
    )
    service = ConversationService(
        stack.storage.conversations,
        stack.bus,
        stack.clock,
        can_edit=lambda destination: destination.channel == adapter.channel,
    )
    return dispatcher, service


async def customer_writes(stack: Stack, external_id: str = "42:1", text: str = "hi"):
    ingestor = Ingestor(
        stack.storage.ingest, stack.bus, POLICY, stack.clock, edits=stack.storage.conversations
    )
    await ingestor.start()
    result = await ingestor.ingest(
        inbound(external_id, at=stack.clock.now(), thread=CHAT, text=text)
    )
    return ingestor, result


async def test_an_edit_of_a_sent_reply_goes_out_as_an_edit(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        adapter = telegram_like()
        dispatcher, service = wire(stack, adapter)
        ingestor, asked = await customer_writes(stack)
        await dispatcher.start()
        events = stack.bus.subscribe(frozenset({"message.edited"}))
        posted = await service.reply(
            asked.conversation.id,
            stack.agent,
            "teh answer",
            internal=False,
            reply_to_id=asked.message.id,
        )
        await adapter.wait_for(1)
        await service.edit(posted.message.id, stack.agent, "the answer")
        await adapter.wait_for(2)
        event = await asyncio.wait_for(anext(aiter(events)), 5)
        await dispatcher.stop()
        await ingestor.stop()
        first, edit = adapter.sent
        assert (first.text, first.reply_to, first.edit_of) == ("teh answer", "42:1", None)
        assert (edit.text, edit.edit_of) == ("the answer", f"ext-{posted.message.id}")
        assert isinstance(event, MessageEdited)
        assert event.message.edits[0].previous_text == "teh answer"


async def test_a_channel_without_edits_gets_no_edit_delivery(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        adapter = RecordingAdapter(channel="telegram")  # no edits capability
        dispatcher, service = wire(stack, adapter)
        service = ConversationService(stack.storage.conversations, stack.bus, stack.clock)
        ingestor, asked = await customer_writes(stack)
        await dispatcher.start()
        posted = await service.reply(asked.conversation.id, stack.agent, "one", internal=False)
        await adapter.wait_for(1)
        edited = await service.edit(posted.message.id, stack.agent, "two")
        await dispatcher.stop()
        await ingestor.stop()
        assert edited.text == "two"
        views = await stack.storage.conversations.deliveries_for(asked.conversation.id)
        assert len(views) == 1


async def test_a_held_reply_can_be_withdrawn_and_never_goes_out(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        adapter = telegram_like()
        dispatcher, service = wire(stack, adapter)
        ingestor, asked = await customer_writes(stack)
        await dispatcher.start()
        retracted = stack.bus.subscribe(frozenset({"message.retracted"}))
        held = await service.reply(
            asked.conversation.id, stack.agent, "wrong customer!", internal=False, hold_seconds=30
        )
        assert await service.retract(held.message.id, stack.agent)
        event = await asyncio.wait_for(anext(aiter(retracted)), 5)
        after = await service.reply(asked.conversation.id, stack.agent, "hello", internal=False)
        await adapter.wait_for(1)
        await dispatcher.stop()
        await ingestor.stop()
        assert isinstance(event, MessageRetracted)
        assert [s.text for s in adapter.sent] == ["hello"]
        assert adapter.sent[0].message_id == after.message.id
        # Withdrawing twice is fine; withdrawing what was sent is refused.
        assert await service.retract(held.message.id, stack.agent)
        assert not await service.retract(after.message.id, stack.agent)


async def test_a_held_reply_goes_out_with_its_edited_text(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        adapter = telegram_like()
        dispatcher, service = wire(stack, adapter)
        ingestor, asked = await customer_writes(stack)
        await dispatcher.start()
        held = await service.reply(
            asked.conversation.id, stack.agent, "draft", internal=False, hold_seconds=0.3
        )
        await service.edit(held.message.id, stack.agent, "final")
        await adapter.wait_for(1)
        await dispatcher.stop()
        await ingestor.stop()
        assert [(s.text, s.edit_of) for s in adapter.sent] == [("final", None)]


async def test_only_the_author_or_a_supervisor_changes_a_message(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        adapter = telegram_like()
        _, service = wire(stack, adapter)
        ingestor, asked = await customer_writes(stack)
        other = await stack.storage.agents.add_agent(
            NewAgent("Cy", "cy@example.com"), "c" * 64, stack.clock.now()
        )
        posted = await service.reply(asked.conversation.id, stack.agent, "mine", internal=True)
        with pytest.raises(Forbidden):
            await service.edit(posted.message.id, other, "theirs")
        with pytest.raises(Forbidden):
            await service.edit(asked.message.id, stack.agent, "put words in their mouth")
        with pytest.raises(InvalidInput):
            await service.edit(posted.message.id, stack.agent, " ")
        elsewhere = await service.reply(asked.conversation.id, stack.agent, "x", internal=True)
        with pytest.raises(InvalidInput):
            await service.reply(
                asked.conversation.id + 1,
                stack.agent,
                "x",
                internal=False,
                reply_to_id=elsewhere.message.id,
            )
        await ingestor.stop()


async def test_attachments_and_customer_edits(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        adapter = telegram_like()
        dispatcher, service = wire(stack, adapter)
        ingestor, asked = await customer_writes(stack, text="helo")
        await dispatcher.start()
        edits = stack.bus.subscribe(frozenset({"message.edited"}))
        edited = await ingestor.edit(
            InboundEdit("telegram:default", "42:1", "hello", asked.message.created_at)
        )
        assert edited is not None
        assert edited.text == "hello"
        event = await asyncio.wait_for(anext(aiter(edits)), 5)
        assert isinstance(event, MessageEdited)
        assert (
            await ingestor.edit(
                InboundEdit("telegram:default", "42:404", "x", asked.message.created_at)
            )
            is None
        )
        file = Attachment("invoice.pdf", "application/pdf", 3, "a" * 64)
        await service.reply(
            asked.conversation.id, stack.agent, "see attached", internal=False, attachments=[file]
        )
        await adapter.wait_for(1)
        await dispatcher.stop()
        await ingestor.stop()
        assert adapter.sent[0].attachments == ("invoice.pdf",)


async def test_a_bounce_marks_the_delivery_failed_for_agents(tmp_path: Path) -> None:
    async with core_stack(tmp_path / "b.db") as stack:
        adapter = telegram_like()
        dispatcher, service = wire(stack, adapter)
        ingestor, asked = await customer_writes(stack)
        await dispatcher.start()
        failures = stack.bus.subscribe(frozenset({"delivery.failed"}))
        sent = stack.bus.subscribe(frozenset({"delivery.sent"}))
        posted = await service.reply(asked.conversation.id, stack.agent, "answer", internal=False)
        await asyncio.wait_for(anext(aiter(sent)), 5)  # recorded, with its external id
        external = f"ext-{posted.message.id}"
        assert await dispatcher.report_failure("telegram:default", external, "550 user unknown")
        assert not await dispatcher.report_failure("telegram:default", "nope", "x")
        event = await asyncio.wait_for(anext(aiter(failures)), 5)
        await dispatcher.stop()
        await ingestor.stop()
        assert isinstance(event, DeliveryFailed)
        assert event.reason == "550 user unknown"
