"""``GET /api/events``: the bus as server-sent events, for the inbox and API clients.

Events are hints that something changed (ids and states); clients re-read what they show.
A comment line every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from bridge.events import Event, event_payload
from bridge.ports import Subscription
from web.services import WebServices

HEARTBEAT_SECONDS = 15.0


async def _pump(subscription: Subscription, queue: asyncio.Queue[Event | None]) -> None:
    # A separate reader, so that waiting for the next event can time out (heartbeat) without
    # cancelling the subscription's iterator, which would end it.
    try:
        async for event in subscription:
            await queue.put(event)
    finally:
        await queue.put(None)


class EventStream:
    def __init__(self, services: WebServices, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self._services = services
        self._heartbeat = heartbeat

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/events", self.stream)]

    async def stream(self, request: web.Request) -> web.StreamResponse:
        kinds = frozenset(k for k in request.query.get("kinds", "").split(",") if k) or None
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        subscription = self._services.bus.subscribe(kinds)
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=1000)
        pump = asyncio.create_task(_pump(subscription, queue), name="sse-pump")
        sequence = 0
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self._heartbeat)
                except TimeoutError:
                    await response.write(b": ping\n\n")
                    continue
                if event is None:
                    break
                sequence += 1
                data = json.dumps(event_payload(event), ensure_ascii=False)
                await response.write(
                    f"id: {sequence}\nevent: {event.kind}\ndata: {data}\n\n".encode()
                )
        except ConnectionResetError:
            pass  # the client went away
        finally:
            await subscription.close()
            pump.cancel()
        return response
