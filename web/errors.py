"""Mapping errors to HTTP answers: every error is JSON with a machine code and a sentence.

Nothing the caller sent can produce a 500: bad JSON is 400, a too-long text 413, an unknown
token 401. A 500 means a bug; it is logged with an id the caller can quote. A database that
cannot be reached is no bug: 503 with ``Retry-After``, and nothing was stored.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiohttp import web

from bridge.errors import (
    BridgeError,
    Conflict,
    Forbidden,
    InternalMessageRefused,
    InvalidInput,
    NotFound,
    StorageUnavailable,
    TextTooLong,
    Unauthorized,
)
from web.access_log import loggable_path

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[BridgeError], int], ...] = (
    (TextTooLong, 413),
    (InvalidInput, 400),
    (NotFound, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (Conflict, 409),
    (InternalMessageRefused, 422),
    (StorageUnavailable, 503),
)
#: Seconds a client is asked to wait when the store is away (a restart takes a few).
RETRY_AFTER_SECONDS = 5


class MalformedJson(InvalidInput):
    code = "malformed_json"


def _headers(status: int) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="bridge"'}
    if status == 503:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return None


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": code, "message": message, **extra}
    return web.json_response(body, status=status, headers=_headers(status))


_TITLES = {
    400: "Something is not right",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    503: "Back in a moment",
}


def _wants_page(request: web.Request) -> bool:
    """A person's browser on one of our pages (not the API): answer with a page, not JSON."""
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


def error_page(status: int, message: str) -> web.Response:
    from web.render import Renderer

    response = Renderer().page(
        "error.html", status=status, title=_TITLES.get(status, "Error"), message=message
    )
    response.headers.update(_headers(status) or {})
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except BridgeError as error:
        for kind, status in _STATUS:
            if isinstance(error, kind):
                if status == 503:
                    log.warning("%s %s: %s", request.method, loggable_path(request.path), error)
                if _wants_page(request):
                    return error_page(status, str(error))
                return error_response(status, getattr(error, "code", "error"), str(error))
        raise
    except web.HTTPException as error:
        if error.status >= 400 and request.path.startswith("/api/"):
            return error_response(
                error.status, error.reason.lower().replace(" ", "_"), error.reason
            )
        raise
    except Exception:
        incident = secrets.token_hex(6)
        log.exception(
            "unhandled error %s on %s %s", incident, request.method, loggable_path(request.path)
        )
        return error_response(500, "internal_error", "unexpected error", incident=incident)
    return response


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.read()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


#: Ids and numbers the database can hold (BIGINT); anything outside is no row of ours.
MAX_ID = 2**63 - 1


def parse_id(value: object, name: str) -> int:
    """A row id from a path, a query or a JSON body: a positive integer the database can hold.

    Anything else is a 400 that names the field, never a crash deeper down (a 30-digit id once
    overflowed SQLite's integer and answered 500).
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise InvalidInput(f"{name} must be a positive integer id")
    if not 1 <= number <= MAX_ID:
        raise InvalidInput(f"{name} must be an id between 1 and {MAX_ID}")
    return number


def parse_int(raw: str, name: str) -> int:
    """An integer query parameter, within what the database can compare against."""
    try:
        number = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not -MAX_ID <= number <= MAX_ID:
        raise InvalidInput(f"{name} is out of range")
    return number
