"""``POST /telegram/webhook``: updates pushed by Telegram (https://core.telegram.org/bots/api#setwebhook).

Checked in this order, before anything is parsed:

1. the ``X-Telegram-Bot-Api-Secret-Token`` header must equal ``webhook_secret``
   (``hmac.compare_digest``), or 401;
2. the body must be a JSON object with an integer ``update_id`` that aiogram can read, or 400;
3. the update is handled (:class:`UpdateHandler`) and 200 is answered only once it is
   committed. When it cannot be (the store is down, the bridge is stopping) the answer is
   503, and Telegram sends the update again later; an update already handled in this process
   is answered 200 at once.

Update kinds the bridge does not handle are logged and answered 200, so Telegram does not
retry them forever.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiogram import Bot
from aiohttp import web
from pydantic import ValidationError

from channels.telegram.convert import read_update
from channels.telegram.inbound import RecentUpdates, UpdateHandler

log = logging.getLogger(__name__)

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
#: Updates are a few KB; a file's bytes never come in one (only its id).
MAX_BODY = 1024 * 1024


def secret_matches(expected: str, given: str | None) -> bool:
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def receive(
    request: web.Request,
    *,
    secret: str,
    bot: Bot | None,
    handler: UpdateHandler | None,
    seen: RecentUpdates,
) -> web.Response:
    if not secret_matches(secret, request.headers.get(SECRET_HEADER)):
        log.warning("telegram webhook: a call without the right secret refused")
        return _error(401, "unauthorized", "the secret token header is missing or wrong")
    if bot is None or handler is None:
        return _error(503, "unavailable", "the Telegram channel is not running")
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, "too_large", "the body is too large")
    body = await request.read()
    if len(body) > MAX_BODY:
        return _error(413, "too_large", "the body is too large")
    try:
        data = json.loads(body)
    except ValueError:
        return _error(400, "malformed_json", "the body is not JSON")
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return _error(400, "invalid_update", "an update is an object with an integer update_id")
    try:
        update = read_update(data)
    except ValidationError as error:
        return _error(
            400, "invalid_update", f"not a Telegram update ({error.error_count()} errors)"
        )
    if update.update_id in seen:
        return web.Response(status=200)
    try:
        await handler.handle(update)
    except Exception as error:
        log.warning(
            "telegram webhook: update %d not stored, Telegram will retry: %s",
            update.update_id,
            type(error).__name__,
        )
        log.debug("telegram webhook: update %d failed", update.update_id, exc_info=error)
        return _error(503, "temporarily_unavailable", "the update could not be stored now")
    seen.add(update.update_id)
    return web.Response(status=200)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)
