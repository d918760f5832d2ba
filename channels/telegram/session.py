"""aiogram's HTTP session, carrying the bridge's idempotency key with each message it sends.

The Bot API takes no idempotency key (https://core.telegram.org/bots/api#making-requests), so
a crash between Telegram's answer and the outbox recording it sends that part again on the next
attempt. The sender records each part as it goes (:mod:`.sender`), which leaves only that
moment open; a Bot API server in front of Telegram that deduplicates (a proxy, the test
double) closes it too, when each send carries a key that is the same on every attempt.

So a call made inside :func:`send_key` carries ``X-Bridge-Idempotency-Key``; Telegram ignores
headers it does not know. Which key a part gets is the sender's business, not this module's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiohttp import ClientSession

HEADER = "X-Bridge-Idempotency-Key"

_KEY: ContextVar[str | None] = ContextVar("telegram_send_key", default=None)


@contextmanager
def send_key(key: str) -> Iterator[None]:
    """Calls made by this task inside the block carry ``key``."""
    token = _KEY.set(key)
    try:
        yield
    finally:
        _KEY.reset(token)


class KeyedSession(AiohttpSession):
    """:class:`AiohttpSession` adding the key of :func:`send_key` as a header.

    aiogram has no per-call headers; it makes every Bot API call with ``post`` on the session
    :meth:`create_session` returns, so the session it gets is wrapped to add the header there
    (aiogram's own request code, form and error mapping stay as they are)."""

    async def create_session(self) -> ClientSession:
        return cast(ClientSession, _Keyed(await super().create_session()))


class _Keyed:
    """An aiohttp session whose ``post`` carries the current key; the rest is the session's."""

    def __init__(self, session: ClientSession) -> None:
        self._session = session

    def post(self, url: Any, **kwargs: Any) -> Any:
        key = _KEY.get()
        if key is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), HEADER: key}
        return self._session.post(url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)
