"""The web chat's status line follows the router: place in line and expected wait while
queued, the agent's first name once assigned."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness import Running, running_bridge


async def next_status(ws: aiohttp.ClientWebSocketResponse, **wanted: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            frame = await ws.receive_json()
            if frame["type"] == "status" and all(frame.get(k) == v for k, v in wanted.items()):
                return dict(frame)


async def visitor(bridge: Running, name: str) -> aiohttp.ClientWebSocketResponse:
    async with bridge.http.post(bridge.url("/webchat/sessions"), json={"name": name}) as r:
        token = (await r.json())["token"]
    return await bridge.http.ws_connect(bridge.url(f"/webchat/ws?token={token}"))


async def test_status_frames_carry_place_in_line_wait_and_agent(tmp_path: Path) -> None:
    async with running_bridge(tmp_path, routing={"acknowledgements": {"enabled": False}}) as bridge:
        bridge.runtime.adapters["webchat:default"]._status_refresh = 0.05  # type: ignore[attr-defined]
        first = await visitor(bridge, "Ana Lima")
        second = await visitor(bridge, "Rui Costa")
        await next_status(first, state="new")
        await next_status(second, state="new")
        await first.send_json({"type": "message", "text": "hello", "client_msg_id": "a"})
        await next_status(first, state="queued", position=1)
        await second.send_json({"type": "message", "text": "hi", "client_msg_id": "b"})
        queued = await next_status(second, state="queued", position=2)
        assert queued["eta_seconds"] >= 60
        assert queued["eta_seconds"] % 60 == 0

        # An agent comes online: the first visitor is assigned and learns who has it; the
        # second moves up to the head of the line without any event naming them.
        _agent, token = await bridge.add_agent("Bea Santos", "bea2@example.com")
        async with bridge.http.patch(
            bridge.url("/api/agents/me"),
            json={"presence": "online"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 200
        await bridge.runtime.router.settle()
        assigned = await next_status(first, state="assigned")
        assert assigned["assignee"] == "Bea"
        assert "position" not in assigned
        # Capacity 6: the second is assigned too (to the same, only, agent).
        assert (await next_status(second, state="assigned"))["assignee"] == "Bea"
        await first.close()
        await second.close()


async def test_the_place_in_line_moves_up_as_people_ahead_are_served(tmp_path: Path) -> None:
    async with running_bridge(tmp_path, routing={"acknowledgements": {"enabled": False}}) as bridge:
        bridge.runtime.adapters["webchat:default"]._status_refresh = 0.05  # type: ignore[attr-defined]
        sockets = [await visitor(bridge, f"V{n}") for n in range(3)]
        for n, ws in enumerate(sockets):
            await next_status(ws, state="new")
            await ws.send_json({"type": "message", "text": "hi", "client_msg_id": f"m{n}"})
            await next_status(ws, state="queued", position=n + 1)
        _, token = await bridge.add_agent("Caio Reis", "caio@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        async with bridge.http.post(bridge.url("/api/queue/next"), headers=headers) as response:
            assert response.status == 200
        await bridge.runtime.router.settle()
        await next_status(sockets[1], state="queued", position=1)
        await next_status(sockets[2], state="queued", position=2)
        for ws in sockets:
            await ws.close()
