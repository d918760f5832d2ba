"""The one aiohttp application: API, health, pages, and the channels' own routes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from web import openapi
from web.access_log import AccessLogger
from web.api import AgentApi, TokenCache, auth_middleware
from web.deliveries import DeliveryRoutes
from web.errors import error_middleware
from web.files import FileRoutes
from web.health import Health
from web.inbox_api import InboxApi
from web.inbox_pages import InboxPages
from web.login import LoginPages
from web.pages import Pages
from web.services import WebServices
from web.sessions import Sessions
from web.sse import EventStream
from web.status_page import StatusPage
from web.supervisor import SupervisorPages


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def build_app(
    services: WebServices,
    *,
    channel_routes: Iterable[web.RouteDef] = (),
    max_body_bytes: int = 1_048_576,
) -> web.Application:
    tokens = TokenCache()
    sessions = Sessions(services)
    app = web.Application(
        middlewares=[
            security_headers,
            error_middleware,
            auth_middleware(services, tokens, sessions),
        ],
        client_max_size=max_body_bytes,
    )
    app.add_routes(Health(services).routes())
    app.add_routes(AgentApi(services, tokens, sessions).routes())
    app.add_routes(InboxApi(services).routes())
    app.add_routes(DeliveryRoutes(services).routes())
    app.add_routes(FileRoutes(services.files).routes())
    app.add_routes(openapi.routes())
    app.add_routes(EventStream(services).routes())
    app.add_routes(Pages(services).routes())
    app.add_routes(LoginPages(services, sessions).routes())
    app.add_routes(InboxPages(services, sessions).routes())
    app.add_routes(SupervisorPages(services, sessions).routes())
    app.add_routes(StatusPage(services).routes())
    app.add_routes(list(channel_routes))
    return app


def runner_options() -> dict[str, Any]:
    """Options for the aiohttp runner serving :func:`build_app`, in production and in tests.

    The access log must never write query strings: the web chat's token travels in one.
    """
    return {"access_log_class": AccessLogger}
