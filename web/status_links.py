"""Links to a customer's status page: ``<public_url>/status/<token>``.

The token is 24 random bytes (``secrets.token_urlsafe``), so it cannot be guessed; the store
keeps only its SHA-256, so a copy of the database opens no status page. Every call mints a
new link (an acknowledgement, an email, a rating request each get their own), all leading to
the same conversation.
"""

from __future__ import annotations

import re
import secrets

from bridge.model import Conversation, ConversationStatus
from bridge.ports import Clock, ConversationStore, RatingStore, StatusLinkStore
from bridge.tokens import hash_token

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class StatusLinks:
    def __init__(self, store: StatusLinkStore, clock: Clock, public_url: str) -> None:
        self._store = store
        self._clock = clock
        self._public_url = public_url.rstrip("/")

    async def status_url(self, conversation: Conversation) -> str:
        return self._public_url + await self.status_path(conversation.id)

    async def status_path(self, conversation_id: int) -> str:
        token = secrets.token_urlsafe(24)
        await self._store.add_status_link(conversation_id, hash_token(token), self._clock.now())
        return f"/status/{token}"

    async def conversation_of(self, token: str) -> int | None:
        if not _TOKEN.match(token):
            return None
        return await self._store.conversation_of_link(hash_token(token))


class LinkRatings:
    """:class:`bridge.ports.CustomerRatings` over status links: a rating button on a channel
    carries the same token as the rating form on the status page."""

    def __init__(
        self,
        links: StatusLinks,
        ratings: RatingStore,
        conversations: ConversationStore,
        clock: Clock,
    ) -> None:
        self._links = links
        self._ratings = ratings
        self._conversations = conversations
        self._clock = clock

    async def rate_by_link(self, token: str, rating: int) -> bool:
        if not 1 <= rating <= 5:
            return False
        conversation_id = await self._links.conversation_of(token)
        if conversation_id is None:
            return False
        conversation = await self._conversations.get_conversation(conversation_id)
        if conversation.status is not ConversationStatus.RESOLVED:
            return False
        await self._ratings.rate(conversation_id, rating, None, self._clock.now())
        return True
