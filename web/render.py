"""Rendering the inbox's, the dashboard's and the status page's HTML, and their headers.

Jinja2 autoescapes everything; pages run only our own scripts and stylesheets from
``/static/`` (no inline script or style, so the CSP can forbid both), may not be framed, and
are never cached: they show conversations.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

WEB_ROOT = Path(__file__).parent
STATIC = WEB_ROOT / "static"

#: The strict policy of the inbox, the dashboard, the sign-in and the status page.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
#: Our own files under /static/, and their types; nothing else is served from there.
STATIC_FILES = {
    "app.css": "text/css; charset=utf-8",
    "inbox.js": "application/javascript; charset=utf-8",
    "supervisor.js": "application/javascript; charset=utf-8",
    "clock.js": "application/javascript; charset=utf-8",
    "waiting.js": "application/javascript; charset=utf-8",
}


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def _clock(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def duration(seconds: float | None) -> str:
    """``95`` -> ``1m 35s``; a wait or an age as people read it."""
    if seconds is None:
        return "\u2013"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB_ROOT / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = _iso
    env.filters["clock"] = _clock
    env.filters["duration"] = duration
    return env


class Renderer:
    def __init__(self) -> None:
        self.env = environment()

    def page(
        self,
        name: str,
        *,
        status: int = 200,
        started: float | None = None,
        **context: Any,
    ) -> web.Response:
        html = self.env.get_template(name).render(**context)
        response = web.Response(text=html, status=status, content_type="text/html")
        app_headers(response)
        if started is not None:
            # Server time for this page, for people looking at the network panel (and benches).
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
        return response


def app_headers(response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = APP_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"


def see_other(location: str) -> web.Response:
    """The answer to a form post: go back to a page (303, so a reload does not repost)."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def local_path(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default``: a ``next=`` that points
    elsewhere (``//evil.example``, ``https://...``) would turn sign-in into an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    return target


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC / name,
        headers={"Content-Type": content_type, "Cache-Control": "no-cache"},
    )
