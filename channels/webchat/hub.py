"""The live socket hub: every open web chat tab in this process, by visitor.

Each open tab is a websocket registered under its visitor's thread key, so an agent's reply, a
status change or the echo of a message sent from another tab reaches every tab of that visitor
in this process. A tab that was away catches up with a ``resume`` frame; the widget
deduplicates by message id, which is what lets the adapter register a socket *before* reading
history so that nothing falls between the catch-up and the live frames.

The hub keeps no messages: a visitor with no open tab simply misses the live frame and gets
the stored message on their next resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, KeysView
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bridge.events import (
    ConversationOpened,
    ConversationReopened,
    ConversationUpdated,
    MessageAdded,
)
from bridge.model import Conversation
from bridge.ports import Subscription, Visitor
from channels.webchat.convert import encode_frame

log = logging.getLogger(__name__)

#: A write to one slow socket must not hold up the others (or the dispatcher) for long.
WRITE_TIMEOUT = 5.0
#: Visitors whose status is refreshed between two turns of the event loop.
REFRESH_SLICE = 100
#: Status events taken together at most (see :meth:`Hub.follow_status`).
STATUS_BATCH = 512
#: Events that may change what the visitor's status line shows. ``message.added`` carries the
#: conversation after an agent's reply or a customer's message (pending_customer <-> queued);
#: an unchanged status is not pushed again.
STATUS_KINDS = frozenset(
    {"conversation.opened", "conversation.reopened", "conversation.updated", "message.added"}
)


@dataclass(eq=False, slots=True)
class Socket:
    """One open tab: the websocket, whose session it is, and how many unusable frames in a
    row it sent (so the adapter can close a broken or hostile client)."""

    ws: web.WebSocketResponse
    visitor: Visitor
    bad_frames: int = 0

    @property
    def visitor_id(self) -> str:
        return self.visitor.thread.thread_key

    async def write(self, frame: dict[str, Any]) -> None:
        await self.write_text(encode_frame(frame))

    async def write_text(self, text: str) -> None:
        """Write one frame; a closed or stuck socket is the visitor's loss until they resume."""
        if self.ws.closed:
            return
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError, TimeoutError) as error:
            log.debug("write to visitor %s failed: %s", self.visitor_id, type(error).__name__)


@dataclass(eq=False, slots=True)
class _Thread:
    """The open tabs of one visitor, and the last status they were told."""

    sockets: set[Socket] = field(default_factory=set)
    last_status: dict[str, Any] | None = None
    #: The visitor's current conversation as last seen, to refresh its place in line.
    conversation: Conversation | None = None


class Hub:
    """The open tabs of every visitor, and how many sockets are open or being opened.

    The connection count includes upgrades still under way (session lookup, handshake), which
    is why it is separate from the registry: ``max_connections`` must hold before a socket is
    registered, or concurrent upgrades could overshoot it.
    """

    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        self._threads: dict[str, _Thread] = {}
        self._connections = 0  # sockets open or being opened, for max_connections

    @property
    def connections(self) -> int:
        """Sockets open or being opened."""
        return self._connections

    @property
    def open_sockets(self) -> int:
        """Sockets registered, i.e. fully open."""
        return sum(len(t.sockets) for t in self._threads.values())

    def online(self) -> KeysView[str]:
        """A live view of the visitors with at least one open tab."""
        return self._threads.keys()

    def reserve(self) -> bool:
        """Count one socket being opened; False (and nothing counted) at ``max_connections``.

        Call before any await, so that concurrent upgrades cannot overshoot; pair with
        :meth:`release` in a ``finally``."""
        if self._connections >= self._max_connections:
            return False
        self._connections += 1
        return True

    def release(self) -> None:
        self._connections -= 1

    def register(self, client: Socket) -> None:
        """Make ``client`` receive its visitor's live frames from now on."""
        thread = self._threads.get(client.visitor_id)
        if thread is None:
            thread = self._threads[client.visitor_id] = _Thread()
        thread.sockets.add(client)

    def unregister(self, client: Socket) -> bool:
        """Forget ``client``; True when it was its visitor's last open tab."""
        thread = self._threads.get(client.visitor_id)
        if thread is None:
            return False
        thread.sockets.discard(client)
        if thread.sockets:
            return False
        del self._threads[client.visitor_id]
        return True

    def greeted(
        self, client: Socket, frame: dict[str, Any], conversation: Conversation | None
    ) -> None:
        """Note the status frame a newly connected tab was greeted with, unless the visitor's
        tabs were already told one: the first greeting is the baseline that
        :meth:`push_status` compares with, a later tab's must not overwrite a newer push."""
        thread = self._threads.get(client.visitor_id)
        if thread is not None and thread.last_status is None:
            thread.last_status = frame
        if thread is not None and thread.conversation is None:
            thread.conversation = conversation

    async def refresh_statuses(self, describe: Callable[[Conversation], dict[str, Any]]) -> None:
        """Tell every connected visitor whose place in line or wait changed (the people ahead
        being served moves everyone's position; no event names each of them)."""
        for done, (visitor_id, thread) in enumerate(list(self._threads.items()), 1):
            if thread.conversation is not None and thread.conversation.is_open:
                await self.push_status(visitor_id, describe(thread.conversation))
            if done % REFRESH_SLICE == 0:
                # Thousands of visitors take a good part of a second to describe: let the
                # messages arriving meanwhile through instead of stalling them all that time.
                await asyncio.sleep(0)

    async def follow_status(
        self,
        subscription: Subscription,
        channel: str,
        account: str,
        describe: Callable[[Conversation], dict[str, Any]],
        log_failure: Callable[[BaseException, str], None],
    ) -> None:
        """Push the status of each changed conversation of this channel and account to its
        visitor's tabs, until the subscription closes (the adapter's "status" task). A failed
        push goes to ``log_failure``, the adapter's one way of logging errors without data."""
        events = aiter(subscription)
        while True:
            # Under load one conversation's events come in bunches (opened, the message, the
            # acknowledgement): whatever queued up is taken together and each conversation
            # described once, from its latest snapshot.
            try:
                batch = [await anext(events)]
                while subscription.backlog() and len(batch) < STATUS_BATCH:
                    batch.append(await anext(events))
            except StopAsyncIteration:
                return
            latest: dict[int, Conversation] = {}
            for event in batch:
                if not isinstance(
                    event,
                    ConversationOpened | ConversationReopened | ConversationUpdated | MessageAdded,
                ):
                    continue
                origin = event.conversation.origin
                if origin.channel == channel and origin.account == account:
                    latest.pop(event.conversation.id, None)  # keep the order of the last event
                    latest[event.conversation.id] = event.conversation
            for conversation in latest.values():
                thread_key = conversation.origin.thread_key
                thread = self._threads.get(thread_key)
                if thread is None:
                    continue
                thread.conversation = conversation
                try:
                    await self.push_status(thread_key, describe(conversation))
                except Exception as error:  # a bug must not stop every later status push
                    log_failure(
                        error, f"pushing the status of conversation {conversation.id} failed"
                    )

    async def push_status(self, visitor_id: str, frame: dict[str, Any]) -> None:
        """Push a status frame to the visitor's tabs unless it is the one they were last told:
        many events (every message, for one) leave the status as it was."""
        thread = self._threads.get(visitor_id)
        if thread is None or frame == thread.last_status:
            return
        thread.last_status = frame
        await self._push(thread, encode_frame(frame))

    async def push(self, visitor_id: str, text: str) -> None:
        """Write an encoded frame to every open tab of the visitor, if any."""
        thread = self._threads.get(visitor_id)
        if thread is not None:
            await self._push(thread, text)

    async def _push(self, thread: _Thread, text: str) -> None:
        sockets = list(thread.sockets)
        if len(sockets) == 1:  # the usual case: no task for gather to wrap it in
            await sockets[0].write_text(text)
        else:
            await asyncio.gather(*(s.write_text(text) for s in sockets))

    async def close_all(self, code: int, message: bytes) -> int:
        """Close every open tab; returns how many there were."""
        sockets = [s for thread in self._threads.values() for s in thread.sockets]
        await asyncio.gather(
            *(s.ws.close(code=code, message=message) for s in sockets),
            return_exceptions=True,
        )
        return len(sockets)
