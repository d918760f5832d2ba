"""A core stack on a real SQLite store, for pipeline and dispatcher tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bridge.clock import SystemClock
from bridge.conversations import ConversationService
from bridge.model import Agent
from bridge.ports import Clock, ConversationPolicy, NewAgent
from bridge.tokens import hash_token, new_token
from storage.bus import InProcessBus
from storage.migrate import upgrade
from storage.store import Storage

POLICY = ConversationPolicy(reopen_window=timedelta(hours=72))


@dataclass
class Stack:
    storage: Storage
    bus: InProcessBus
    service: ConversationService
    agent: Agent
    clock: Clock


@asynccontextmanager
async def core_stack(path: Path, clock: Clock | None = None) -> AsyncIterator[Stack]:
    clock = clock or SystemClock()
    storage = Storage.open(f"sqlite+aiosqlite:///{path}")
    await upgrade(storage.database)
    bus = InProcessBus()
    agent = await storage.agents.add_agent(
        NewAgent("Bea Agent", f"bea-{uuid.uuid4().hex[:8]}@example.com"),
        hash_token(new_token("brg")),
        clock.now(),
    )
    try:
        yield Stack(
            storage, bus, ConversationService(storage.conversations, bus, clock), agent, clock
        )
    finally:
        await bus.stop()
        await storage.close()
