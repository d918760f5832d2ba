"""What agents (and the bot) do to conversations: reply, note, resolve.

Each action is one store transaction followed by its events. Replies go through the gate,
which alone turns a public message into outbox rows.
"""

from __future__ import annotations

import logging

from bridge.events import (
    ConversationUpdated,
    DeliveriesQueued,
    Event,
    MessageAdded,
)
from bridge.gate import plan_deliveries
from bridge.inbound import check_body
from bridge.model import Agent, Author, Conversation, ConversationStatus, Visibility
from bridge.ports import Clock, ConversationStore, EventBus, NewAgentMessage, PostedMessage

log = logging.getLogger(__name__)


class ConversationService:
    def __init__(self, store: ConversationStore, bus: EventBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def reply(
        self,
        conversation_id: int,
        agent: Agent,
        text: str,
        *,
        internal: bool,
        client_key: str | None = None,
    ) -> PostedMessage:
        """An agent's public reply (delivered to the customer) or internal note (never)."""
        return await self.post(
            NewAgentMessage(
                conversation_id=conversation_id,
                author=Author.AGENT,
                author_id=agent.id,
                author_name=agent.name,
                text=text,
                visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
                client_key=client_key,
            )
        )

    async def post(self, new: NewAgentMessage) -> PostedMessage:
        check_body(new.text)
        posted = await self._store.post_message(new, plan_deliveries, self._clock.now())
        if posted.duplicate:
            return posted
        log.info(
            "message %d added to conversation %d by %s (%s, %d deliveries)",
            posted.message.id,
            posted.conversation.id,
            new.author.value,
            new.visibility.value,
            len(posted.deliveries),
        )
        events: list[Event] = [MessageAdded(posted.message, posted.conversation)]
        if posted.deliveries:
            events.append(
                DeliveriesQueued(posted.conversation.id, tuple(d.id for d in posted.deliveries))
            )
        await self._bus.publish(events)
        return posted

    async def resolve(self, conversation_id: int, agent: Agent | None = None) -> Conversation:
        """Resolve; resolving a resolved conversation changes nothing and is not an error."""
        current = await self._store.get_conversation(conversation_id)
        if current.status is ConversationStatus.RESOLVED:
            return current
        conversation = await self._store.set_status(
            conversation_id, ConversationStatus.RESOLVED, self._clock.now()
        )
        log.info(
            "conversation %d resolved by %s",
            conversation_id,
            f"agent {agent.id}" if agent else "the system",
        )
        await self._bus.publish([ConversationUpdated(conversation, "resolved")])
        return conversation
