"""Asking for a rating when a conversation is resolved.

The question is a public bot message through :meth:`ConversationService.post`, so it reaches
the customer on their own channel like any reply, with a link to the status page's rating
form (``/status/<token>#rate``), which works on every channel. The web chat also shows 1-5
buttons (its ``csat`` frame); a Telegram keyboard can record through the same
:class:`bridge.ports.RatingStore`.

The message's idempotency key is the conversation and the time it was resolved, so a second
process following the same events asks once, and a conversation resolved again after a reopen
is asked again. A conversation already rated is not asked again.
"""

from __future__ import annotations

import asyncio
import logging

from bridge.conversations import ConversationService
from bridge.events import ConversationUpdated
from bridge.model import Author, Conversation, ConversationStatus, Visibility
from bridge.ports import (
    ConversationStore,
    EventBus,
    NewAgentMessage,
    RatingStore,
    StatusPages,
    Subscription,
)
from bridge.tasks import TaskGroup

log = logging.getLogger(__name__)

QUESTIONS = {
    "en": (
        "Your conversation {reference} is resolved. How did we do? Rate us from 1 (poor) to "
        "5 (great) here: {url}"
    ),
    "ru": (
        "Ваше обращение {reference} решено. Как мы справились? Оцените нас от 1 (плохо) до "
        "5 (отлично): {url}"
    ),
    "pt": (
        "O seu atendimento {reference} foi resolvido. Como nos saímos? Avalie-nos de 1 (mau) a "
        "5 (ótimo) aqui: {url}"
    ),
}


def question(language: str | None, reference: str, url: str) -> str:
    base = (language or "en").split("-")[0].lower()
    return QUESTIONS.get(base, QUESTIONS["en"]).format(reference=reference, url=url)


class CsatAsker:
    def __init__(
        self,
        bus: EventBus,
        service: ConversationService,
        conversations: ConversationStore,
        ratings: RatingStore,
        pages: StatusPages,
        *,
        bot_name: str = "Support",
        enabled: bool = True,
    ) -> None:
        self._bus = bus
        self._service = service
        self._conversations = conversations
        self._ratings = ratings
        self._pages = pages
        self._bot_name = bot_name
        self._enabled = enabled
        self._tasks = TaskGroup("csat")
        self._subscription: Subscription | None = None
        self._handling = False

    async def start(self) -> None:
        if not self._enabled or self._subscription is not None:
            return
        self._subscription = self._bus.subscribe(frozenset({ConversationUpdated.kind}))
        self._tasks.spawn(self._follow(self._subscription), "follow")

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        await self._tasks.cancel_all()

    async def _follow(self, subscription: Subscription) -> None:
        async for event in subscription:
            if not isinstance(event, ConversationUpdated) or event.reason != "resolved":
                continue
            self._handling = True
            try:
                await self.ask(event.conversation)
            except Exception as error:  # a missed question must not stop later ones
                # By type only: database errors quote parameters (a customer's name, say).
                log.error(  # noqa: TRY400
                    "asking conversation %d for a rating failed: %s",
                    event.conversation.id,
                    type(error).__name__,
                )
                log.debug("rating request failed", exc_info=error)
            finally:
                self._handling = False

    async def ask(self, conversation: Conversation) -> bool:
        """Post the rating question; False when there was nothing to ask."""
        if conversation.status is not ConversationStatus.RESOLVED:
            return False
        if await self._ratings.rating_of(conversation.id) is not None:
            return False
        customer = await self._conversations.get_customer(conversation.customer_id)
        url = await self._pages.status_url(conversation) + "#rate"
        resolved = conversation.resolved_at.isoformat() if conversation.resolved_at else ""
        posted = await self._service.post(
            NewAgentMessage(
                conversation_id=conversation.id,
                author=Author.BOT,
                author_id=None,
                author_name=self._bot_name,
                text=question(customer.language, conversation.reference, url),
                visibility=Visibility.PUBLIC,
                client_key=f"csat:{conversation.id}:{resolved}",
            )
        )
        if not posted.duplicate:
            log.info("asked conversation %d for a rating", conversation.id)
        return not posted.duplicate

    async def settle(self, timeout: float = 10.0) -> None:
        """Return once every event published so far has been handled (tests)."""
        async with asyncio.timeout(timeout):
            while True:
                await asyncio.sleep(0)
                subscription = self._subscription
                if not self._handling and (subscription is None or not subscription.backlog()):
                    await asyncio.sleep(0)
                    if not self._handling and (subscription is None or not subscription.backlog()):
                        return
