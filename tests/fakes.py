"""Test doubles of the core's ports (not of any SDK: channel SDKs are tested against fakes of
their servers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.errors import ChannelError
from bridge.outbound import Capabilities, OutboundMessage, SentReceipt
from bridge.ports import ComponentState, Health


@dataclass
class Sent:
    key: str
    thread_key: str
    text: str
    message_id: int
    attempt: int
    at: float
    edit_of: str | None = None
    reply_to: str | None = None
    attachments: tuple[str, ...] = ()


@dataclass
class RecordingAdapter:
    """A channel adapter that records what it was asked to send.

    ``failures`` are raised, one per call, before anything succeeds; ``gate`` (when set) makes
    each send wait for it; repeats of an idempotency key are dropped like a platform that
    honours one would.
    """

    channel: str = "webchat"
    account: str = "default"
    capabilities: Capabilities = field(default_factory=Capabilities)
    failures: list[ChannelError] = field(default_factory=list)
    gate: asyncio.Event | None = None
    delay: Callable[[OutboundMessage], float] | None = None
    sent: list[Sent] = field(default_factory=list)
    calls: int = 0
    duplicates: int = 0
    delivered: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def state(self) -> ComponentState:
        return ComponentState(Health.OK)

    async def send(self, out: OutboundMessage) -> SentReceipt:
        self.calls += 1
        loop = asyncio.get_running_loop()
        if self.failures:
            raise self.failures.pop(0)
        if self.gate is not None:
            await self.gate.wait()
        if self.delay is not None:
            await asyncio.sleep(self.delay(out))
        if any(s.key == out.idempotency_key for s in self.sent):
            self.duplicates += 1
        else:
            self.sent.append(
                Sent(
                    out.idempotency_key,
                    out.destination.thread_key,
                    out.message.text,
                    out.message.id,
                    out.attempt,
                    loop.time(),
                    out.edit_of_external_id,
                    out.reply_to_external_id,
                    tuple(a.name for a in out.message.attachments),
                )
            )
        self.delivered.set()
        return SentReceipt(f"ext-{out.message.id}")

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self.delivered.clear()
                await self.delivered.wait()
