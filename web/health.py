"""``/healthz`` (the process answers) and ``/readyz`` (each part's state, as JSON).

``/readyz`` answers 503 when a part is down, starting or stopped (the store is unreachable, a
channel's configuration is wrong), and 200 while parts are only ``degraded`` (a platform rate
limits, replies wait, Redis is away): the process still takes customers' messages and stores
them, so load balancers and health checks must keep it in service; ``status`` and each
component say what is degraded and why.
"""

from __future__ import annotations

from aiohttp import web

from web.services import WebServices


class Health:
    def __init__(self, services: WebServices) -> None:
        self._services = services

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz)]

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        states = await self._services.readiness()
        ready = all(state.serving for state in states.values())
        degraded = any(not state.ready for state in states.values())
        body = {
            "ready": ready,
            "status": "down" if not ready else "degraded" if degraded else "ok",
            "components": {
                name: {"health": state.health.value, "detail": state.detail}
                for name, state in states.items()
            },
        }
        return web.json_response(body, status=200 if ready else 503)
