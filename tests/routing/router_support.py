"""Driving the whole bridge's router deterministically: a manual clock, customers through the
ingest pipeline, agents through the HTTP API, and :meth:`Router.settle` after every step.

Nothing here sleeps: time moves only when a test advances the clock, and the router's timed
work runs when a test calls :meth:`Desk.tick`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from bridge.clock import ManualClock
from bridge.events import Event
from bridge.inbound import InboundMessage, IngestResult
from bridge.model import Agent, Priority, Role, ThreadRef
from bridge.ports import NewAgent, Subscription
from bridge.tokens import hash_token, new_token
from storage.tables import conversations
from tests.factories import inbound
from tests.harness import Running, running_bridge

#: A Monday, 09:00 UTC (also 09:00 in Lisbon, which is on UTC in January).
MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
#: A Saturday, 10:00 UTC: a 09:00-18:00 weekday team is closed until Monday 09:00.
SATURDAY = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)

#: How long before the bridge handles a customer's message the channel received it, as in
#: production. Not zero: with a manual clock standing still, the ingest snapshot and the
#: router's own assignment would carry the same ``updated_at``, which (with the stale-snapshot
#: bug shown in test_router_snapshots.py) miscounts agents' loads in almost every test.
LAG = 0.001

#: Without this, a test that forgets an acknowledgement would count it as a bot message.
NO_ACKS: dict[str, Any] = {"acknowledgements": {"enabled": False}}


@dataclass(frozen=True)
class Staff:
    """An agent and the API token they act with."""

    agent: Agent
    token: str

    @property
    def id(self) -> int:
        return self.agent.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class Events:
    """A bus subscription read without blocking: what was published so far."""

    subscription: Subscription
    _reader: Any = field(init=False)

    def __post_init__(self) -> None:
        self._reader = aiter(self.subscription)

    async def taken(self) -> list[Event]:
        """Every event published to this subscription since the last call."""
        return [
            await asyncio.wait_for(anext(self._reader), 5)
            for _ in range(self.subscription.backlog())
        ]


@dataclass
class Desk:
    bridge: Running
    clock: ManualClock
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def router(self) -> Any:
        return self.bridge.runtime.router

    async def settle(self) -> None:
        await self.router.settle()

    async def tick(self, seconds: float = 0.0) -> None:
        """Let ``seconds`` pass, run the router's timed work, and let it settle."""
        if seconds:
            self.clock.advance(seconds)
        await self.router.run_due()
        await self.settle()

    # --- customers ------------------------------------------------------------------------

    async def write(
        self,
        visitor: str,
        text: str = "hello, I need help",
        *,
        channel: str = "webchat",
        sender_id: str | None = None,
        language: str | None = None,
        auto_reply_allowed: bool = True,
        after: float = 1.0,
        lag: float = LAG,
    ) -> IngestResult:
        """A customer writes ``after`` seconds from now (so arrivals are strictly ordered);
        the channel received it ``lag`` seconds before the bridge handles it."""
        result = await self.bridge.runtime.ingestor.ingest(
            self.message(
                visitor,
                text,
                channel=channel,
                sender_id=sender_id,
                language=language,
                auto_reply_allowed=auto_reply_allowed,
                after=after,
                lag=lag,
            )
        )
        await self.settle()
        return result

    def message(
        self,
        visitor: str,
        text: str = "hello, I need help",
        *,
        channel: str = "webchat",
        sender_id: str | None = None,
        language: str | None = None,
        auto_reply_allowed: bool = True,
        after: float = 1.0,
        lag: float = LAG,
    ) -> InboundMessage:
        if after:
            self.clock.advance(after)
        thread = ThreadRef(channel, "default", visitor)
        message = inbound(
            f"{visitor}:{next(self._ids)}",
            at=self.clock.now() - timedelta(seconds=lag),
            text=text,
            thread=thread,
            sender_id=sender_id,
            sender_name=f"Customer {visitor.title()}",
            language=language,
        )
        if not auto_reply_allowed:
            message = dataclasses.replace(message, auto_reply_allowed=False)
        return message

    async def opens(self, visitor: str, text: str = "hello, I need help", **kwargs: Any) -> int:
        result = await self.write(visitor, text, **kwargs)
        return result.conversation.id

    # --- agents ---------------------------------------------------------------------------

    async def staff(
        self,
        name: str,
        *,
        role: Role = Role.AGENT,
        tier: int = 1,
        capacity: int = 6,
        teams: tuple[str, ...] = ("support",),
        presence: str | None = "online",
    ) -> Staff:
        """An agent (there is no API to create one: storage, as `bridge agent add` does)."""
        token = new_token("brg")
        email = f"{name.split()[0].lower()}.{next(self._ids)}@example.com"
        agent = await self.bridge.runtime.storage.agents.add_agent(
            NewAgent(name, email, role=role, tier=tier, teams=teams, capacity=capacity),
            hash_token(token),
            self.clock.now(),
        )
        staff = Staff(agent, token)
        if presence is not None:
            reply = await self.presence(staff, presence)
            assert reply.status == 200, reply.body
        return staff

    async def presence(self, staff: Staff, presence: str) -> Reply:
        return await self.call("PATCH", "/api/agents/me", staff, {"presence": presence})

    # --- the API --------------------------------------------------------------------------

    async def call(self, method: str, path: str, staff: Staff, body: Any = None) -> Reply:
        async with self.bridge.http.request(
            method, self.bridge.url(path), json=body, headers=staff.headers
        ) as response:
            payload = await response.json() if response.content_type == "application/json" else None
            status = response.status
        await self.settle()
        return Reply(status, payload)

    async def take_next(self, staff: Staff) -> Reply:
        return await self.call("POST", "/api/queue/next", staff)

    async def assign(self, conversation_id: int, staff: Staff, body: Any = None) -> Reply:
        return await self.call("POST", f"/api/conversations/{conversation_id}/assign", staff, body)

    async def reply(
        self,
        conversation_id: int,
        staff: Staff,
        text: str = "Hi, I'm on it.",
        *,
        internal: bool = False,
    ) -> Reply:
        return await self.call(
            "POST",
            f"/api/conversations/{conversation_id}/messages",
            staff,
            {"text": text, "internal": internal},
        )

    async def resolve(self, conversation_id: int, staff: Staff) -> Reply:
        return await self.call("POST", f"/api/conversations/{conversation_id}/resolve", staff)

    async def queue(self, staff: Staff, query: str = "") -> dict[str, Any]:
        reply = await self.call("GET", f"/api/queue{query}", staff)
        assert reply.status == 200, reply.body
        result: dict[str, Any] = reply.body
        return result

    async def conversation(self, conversation_id: int, staff: Staff) -> dict[str, Any]:
        reply = await self.call("GET", f"/api/conversations/{conversation_id}", staff)
        assert reply.status == 200, reply.body
        result: dict[str, Any] = reply.body
        return result

    async def bot_texts(self, conversation_id: int, staff: Staff) -> list[str]:
        """What the bot told the customer in this conversation, in order."""
        body = await self.conversation(conversation_id, staff)
        return [m["text"] for m in body["messages"] if m["author"] == "bot"]

    async def queued_ids(self, staff: Staff, query: str = "") -> list[int]:
        return [item["conversation_id"] for item in (await self.queue(staff, query))["items"]]

    # --- setup without an API -------------------------------------------------------------

    async def set_priority(self, conversation_id: int, priority: Priority) -> None:
        """Priority has no API yet: change the row, then let the router re-read the store."""
        statement = (
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(priority=int(priority))
        )
        await self.bridge.runtime.storage.database.run_write(lambda c: c.execute(statement))
        await self.router.resync()
        await self.router.dispatch()
        await self.settle()

    def events(self, *kinds: str) -> Events:
        return Events(self.bridge.runtime.bus.subscribe(frozenset(kinds)))


@asynccontextmanager
async def open_desk(
    tmp_path: Path, *, start: datetime = MONDAY, **sections: Any
) -> AsyncIterator[Desk]:
    clock = ManualClock(start)
    # Rating requests after a resolve are the inbox's (tests/web); here they would only add
    # bot messages to count around.
    sections.setdefault("web", {"csat_enabled": False})
    async with running_bridge(tmp_path, clock=clock, **sections) as bridge:
        yield Desk(bridge, clock)
