"""Waiting on the bridge's state without sleeping: re-checked on every event of its bus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bridge.model import ThreadRef
from runtime.app import Runtime
from tests.harness import Running

T = TypeVar("T")

CHAT = 7001


async def until(
    bridge: Running | Runtime, check: Callable[[], Awaitable[T | None]], timeout: float = 10.0
) -> T:
    """The first truthy result of ``check()``, re-checked whenever the bus carries an event
    (and every half second, for changes that publish none)."""
    runtime = bridge.runtime if isinstance(bridge, Running) else bridge
    subscription = runtime.bus.subscribe()
    changed = asyncio.Event()

    async def follow() -> None:
        async for _event in subscription:
            changed.set()

    reader = asyncio.create_task(follow())
    try:
        async with asyncio.timeout(timeout):
            while True:
                changed.clear()
                value = await check()
                if value:
                    return value
                try:
                    async with asyncio.timeout(0.5):
                        await changed.wait()
                except TimeoutError:
                    pass
    finally:
        await subscription.close()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def thread(chat_id: int | str = CHAT) -> ThreadRef:
    return ThreadRef("telegram", "default", str(chat_id))


async def conversation_id(bridge: Running, chat_id: int | str = CHAT) -> int:
    async def current() -> int | None:
        found = await bridge.runtime.storage.conversations.current_conversation(thread(chat_id))
        return None if found is None else found.id

    return await until(bridge, current)


async def conversation_json(bridge: Running, conversation: int) -> dict[str, Any]:
    async with bridge.http.get(
        bridge.url(f"/api/conversations/{conversation}"), headers=bridge.auth
    ) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def messages_of(bridge: Running, conversation: int, count: int) -> list[dict[str, Any]]:
    """The conversation's messages, once it has at least ``count``."""

    async def enough() -> list[dict[str, Any]] | None:
        messages: list[dict[str, Any]] = (await conversation_json(bridge, conversation))["messages"]
        return messages if len(messages) >= count else None

    return await until(bridge, enough)


async def reply(
    bridge: Running, conversation: int, text: str, *, internal: bool = False, **extra: Any
) -> dict[str, Any]:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        json={"text": text, "internal": internal, **extra},
        headers=bridge.auth,
    ) as response:
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body
