"""An access log that never writes query strings or secrets in paths: the web chat's token
travels in a query string, and a status page's token is its path."""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

SECRET_PATHS = ("/status/",)


def loggable_path(path: str) -> str:
    for prefix in SECRET_PATHS:
        if path.startswith(prefix):
            return prefix + "\u2026"
    return path


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %d %.1fms",
            request.method,
            loggable_path(request.path),
            response.status,
            time * 1000,
        )
