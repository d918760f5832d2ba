"""What agents (and the bot) do to conversations: reply, note, resolve.

Each action is one store transaction followed by its events. Replies go through the gate,
which alone turns a public message into outbox rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from bridge.errors import Forbidden, InvalidInput
from bridge.events import (
    ConversationUpdated,
    DeliveriesQueued,
    Event,
    MessageAdded,
    MessageEdited,
    MessageRetracted,
)
from bridge.gate import PlannedDelivery, plan_deliveries, plan_edits
from bridge.inbound import check_body
from bridge.model import (
    Agent,
    Attachment,
    Author,
    Conversation,
    ConversationStatus,
    Delivery,
    Message,
    Role,
    ThreadRef,
    Visibility,
)
from bridge.ports import Clock, ConversationStore, EventBus, NewAgentMessage, PostedMessage

log = logging.getLogger(__name__)


class ConversationService:
    def __init__(
        self,
        store: ConversationStore,
        bus: EventBus,
        clock: Clock,
        *,
        can_edit: Callable[[ThreadRef], bool] = lambda _: False,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        #: Whether the channel of a destination can change a message it sent (capability).
        self._can_edit = can_edit

    async def reply(
        self,
        conversation_id: int,
        agent: Agent,
        text: str,
        *,
        internal: bool,
        client_key: str | None = None,
        attachments: Sequence[Attachment] = (),
        reply_to_id: int | None = None,
        hold_seconds: float = 0.0,
    ) -> PostedMessage:
        """An agent's public reply (delivered to the customer) or internal note (never).

        ``hold_seconds`` keeps a public reply back that long, so that it can still be withdrawn
        (:meth:`retract`) or corrected (:meth:`edit`) before the customer sees it.
        """
        if reply_to_id is not None:
            answered = await self._store.get_message(reply_to_id)
            if answered.conversation_id != conversation_id:
                raise InvalidInput(f"message {reply_to_id} is not in this conversation")
        send_after = None
        if hold_seconds > 0 and not internal:
            send_after = self._clock.now() + timedelta(seconds=hold_seconds)
        return await self.post(
            NewAgentMessage(
                conversation_id=conversation_id,
                author=Author.AGENT,
                author_id=agent.id,
                author_name=agent.name,
                text=text,
                visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
                client_key=client_key,
                attachments=tuple(attachments),
                reply_to_id=reply_to_id,
                send_after=send_after,
            )
        )

    async def edit(self, message_id: int, agent: Agent, text: str) -> Message:
        """An agent corrects their own message (supervisors any agent's). A public reply that
        already went out is changed on the customer's channel where the channel can edit."""
        check_body(text)
        current = await self._store.get_message(message_id)
        self._check_author(current, agent, "edit")
        message, conversation, created = await self._store.edit_public(
            message_id, text, self._clock.now(), self._plan_edits
        )
        log.info(
            "message %d edited by agent %d (%d edits queued)", message_id, agent.id, len(created)
        )
        events: list[Event] = [MessageEdited(message, conversation)]
        if created:
            events.append(DeliveriesQueued(conversation.id, tuple(d.id for d in created)))
        await self._bus.publish(events)
        return message

    async def retract(self, message_id: int, agent: Agent) -> bool:
        """Withdraw a held reply before it goes out; False when it is too late (it was sent
        or is being sent)."""
        current = await self._store.get_message(message_id)
        self._check_author(current, agent, "withdraw")
        if current.retracted:
            return True
        message, withdrawn = await self._store.retract(message_id, self._clock.now())
        if withdrawn:
            log.info("message %d withdrawn by agent %d", message_id, agent.id)
            conversation = await self._store.get_conversation(message.conversation_id)
            await self._bus.publish([MessageRetracted(message, conversation)])
        return withdrawn

    def _plan_edits(
        self, message: Message, sent: Sequence[Delivery]
    ) -> tuple[PlannedDelivery, ...]:
        return plan_edits(message, sent, self._can_edit)

    @staticmethod
    def _check_author(message: Message, agent: Agent, verb: str) -> None:
        if message.author is not Author.AGENT:
            raise Forbidden(f"only agents' messages can be changed; cannot {verb} this one")
        if message.author_id != agent.id and agent.role is Role.AGENT:
            raise Forbidden(f"agents can {verb} only their own messages")

    async def post(self, new: NewAgentMessage) -> PostedMessage:
        check_body(new.text, new.attachments)
        posted = await self._store.post_message(new, plan_deliveries, self._clock.now())
        await self.announce([posted])
        return posted

    async def post_many(self, news: Sequence[NewAgentMessage]) -> list[PostedMessage]:
        """:meth:`post` for many messages in one transaction (the router's acknowledgements
        under load): all stored and announced together, or none."""
        for new in news:
            check_body(new.text, new.attachments)
        if not news:
            return []
        posted = await self._store.post_messages(news, plan_deliveries, self._clock.now())
        await self.announce(posted)
        return posted

    async def announce(self, posted: Sequence[PostedMessage]) -> None:
        """Publish what was stored (by this service or in a store transaction of its own)."""
        events: list[Event] = []
        for one in posted:
            if one.duplicate:
                continue
            message = one.message
            log.info(
                "message %d added to conversation %d by %s (%s, %d deliveries)",
                message.id,
                one.conversation.id,
                message.author.value,
                message.visibility.value,
                len(one.deliveries),
            )
            events.append(MessageAdded(message, one.conversation))
            if one.deliveries:
                events.append(
                    DeliveriesQueued(one.conversation.id, tuple(d.id for d in one.deliveries))
                )
        if events:
            await self._bus.publish(events)

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
