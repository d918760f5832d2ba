"""A fake Telegram Bot API server that speaks the real HTTP API, for aiogram to talk to.

It serves ``POST /bot<token>/<method>`` with JSON, form or multipart bodies and answers in the
Bot API envelope (``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ...,
"description": ..., "parameters": {"retry_after": N}}``), and ``GET /file/bot<token>/<path>``
for downloads, as described in https://core.telegram.org/bots/api#making-requests.

What it models, because the adapter depends on it:

* ``getUpdates``: long polling with ``timeout``; ``offset`` confirms every update below it
  (https://core.telegram.org/bots/api#getupdates); a second poller ends the first with 409;
  polling while a webhook is set is a 409 too.
* Webhooks: ``setWebhook`` with ``secret_token``; with ``push_webhooks`` the fake posts each
  update to the URL in order, as Telegram does, until it gets a 2xx.
* Sending: ``sendMessage`` (4,096 characters at most), ``sendDocument``/``sendPhoto`` as
  multipart uploads (the bytes are kept), ``editMessageText`` ("message is not modified"
  included), ``reply_parameters``, ``sendChatAction``.
* Files: ``getFile`` and the download route; files over 20 MB are refused like the real API.
* Failures on demand: the next calls of a method answered with any status (429 with
  ``retry_after``, 400, 5xx), an outage (every call a 5xx until it ends), a chat that blocked
  the bot (403).
* ``limits``: Telegram's flood limits enforced (30 messages/s per bot, one per second per
  private chat, 20 per minute per group, in sliding windows) with 429 and ``retry_after``.
* Idempotency: not Telegram's, the bridge's. A call carrying ``X-Bridge-Idempotency-Key`` with
  a key that succeeded before is answered with the first result and sends nothing again; it
  is counted in :attr:`FakeBotApi.repeated_keys`.

Every call is recorded (:attr:`FakeBotApi.calls`) with what was answered.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.telegram.fake_messages import MessageMethods
from tests.telegram.fake_records import (
    IDEMPOTENCY_HEADER,
    MESSAGE_METHODS,
    ApiError,
    Call,
    Failure,
    Limits,
    SentMessage,
    StoredFile,
    Upload,
    decode,
)
from tests.telegram.fake_updates import UpdateMethods

__all__ = ["Call", "FakeBotApi", "Limits", "SentMessage", "StoredFile", "Upload"]


class FakeBotApi(UpdateMethods, MessageMethods):
    def __init__(
        self,
        token: str = "123:ABC",
        *,
        limits: Limits | None = None,
        push_webhooks: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = "support_test_bot"
        self.limits = limits
        self.push_webhooks = push_webhooks
        self._clock = clock
        self.calls: list[Call] = []
        self.sent: list[SentMessage] = []
        self.rate_limited = 0
        self.repeated_keys = 0
        self._results: dict[str, Any] = {}  # idempotency key -> the result it got
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_responses: list[int] = []
        self.blocked: set[int] = set()
        self.failures: list[Failure] = []
        self._outage: tuple[float, int] | None = None  # (until, status)
        self._pending: list[dict[str, Any]] = []  # updates not confirmed yet, in order
        self._update_ids = itertools.count(1000)
        self._last_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_numbers = itertools.count(1)
        self._bot_window: deque[float] = deque()
        self._chat_windows: dict[int, deque[float]] = {}
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self.base_url = ""

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        self._closing = True
        self._notify()
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests do --------------------------------------------------------------------

    def push_update(self, payload: dict[str, Any]) -> int:
        """Queue an update (``{"message": {...}}`` and the like); returns its update_id."""
        update_id = next(self._update_ids)
        self._pending.append({"update_id": update_id, **payload})
        self._notify()
        return update_id

    @property
    def pending_updates(self) -> int:
        return len(self._pending)

    @property
    def pending_update_ids(self) -> set[int]:
        """Updates not confirmed yet by a getUpdates offset."""
        return {u["update_id"] for u in self._pending}

    def fail(
        self,
        method: str | None,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error, once ``after``
        matching calls went through."""
        self.failures.append(
            Failure(
                method and method.lower(), code, description, retry_after, times, chat_id, after
            )
        )

    def outage(self, seconds: float, status: int = 502) -> None:
        """Every API call answered ``status`` for ``seconds`` (until :meth:`end_outage`)."""
        self._outage = (self._clock() + seconds, status)

    def end_outage(self) -> None:
        self._outage = None
        self._notify()

    def block(self, chat_id: int) -> None:
        """The user of ``chat_id`` blocked the bot: sends to it get 403."""
        self.blocked.add(chat_id)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def find(self, chat_id: int, message_id: int) -> SentMessage | None:
        for message in self.sent:
            if message.chat_id == chat_id and message.message_id == message_id:
                return message
        return None

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds, re-checking after every call and update."""
        async with asyncio.timeout(timeout):
            while not condition():
                changed = self._changed
                try:
                    async with asyncio.timeout(0.2):
                        await changed.wait()
                except TimeoutError:
                    pass

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- HTTP -----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = Call(method, {}, {}, self._clock(), key=request.headers.get(IDEMPOTENCY_HEADER))
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            call.params, call.files = await self._read(request)
            self.calls.append(call)
            if call.key is not None and call.key in self._results:
                call.repeated = True
                self.repeated_keys += 1
                self._notify()
                return web.json_response({"ok": True, "result": self._results[call.key]})
            self._injected(method.lower(), call)
            result = await self._handle(method.lower(), call)
            if call.key is not None:
                self._results[call.key] = result
        except ApiError as error:
            if call not in self.calls:
                self.calls.append(call)
            call.status = error.code
            call.description = error.description
            if error.code == 429:
                self.rate_limited += 1
            body: dict[str, Any] = {
                "ok": False,
                "error_code": error.code,
                "description": error.description,
            }
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            self._notify()
            return web.json_response(body, status=error.code)
        self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        params: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        if not request.can_read_body:
            return dict(request.query), files
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: parameters must be an object")
            return body, files
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = Upload(value.filename, value.content_type, value.file.read())
            else:
                params[name] = decode(name, str(value))
        return params, files

    def _injected(self, method: str, call: Call) -> None:
        """Outages and failures asked for by the test, checked before the real work."""
        if self._outage is not None:
            until, status = self._outage
            if self._clock() < until:
                raise ApiError(status, "Bad Gateway" if status == 502 else "Internal Server Error")
            self._outage = None
        for failure in self.failures:
            if failure.method not in (None, method):
                continue
            if failure.chat_id is not None and failure.chat_id != call.chat_id:
                continue
            if failure.after > 0:
                failure.after -= 1
                continue
            failure.times -= 1
            if failure.times <= 0:
                self.failures.remove(failure)
            raise ApiError(failure.code, failure.description, failure.retry_after)
        if method in MESSAGE_METHODS:
            chat_id = call.chat_id
            if chat_id is not None and chat_id in self.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if self.limits is not None:
                self._flood_check(call, chat_id)

    def _flood_check(self, call: Call, chat_id: int | None) -> None:
        assert self.limits is not None
        now = self._clock()
        window = self._bot_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        wait = 0.0
        if len(window) >= self.limits.per_bot_per_second:
            wait = window[0] + 1.0 - now
            call.limited_by = "bot"
        chat_window: deque[float] | None = None
        if chat_id is not None:
            chat_window = self._chat_windows.setdefault(chat_id, deque())
            span, allowed = (
                (60.0, self.limits.per_group_per_minute)
                if chat_id < 0
                else (1.0, self.limits.per_chat_per_second)
            )
            while chat_window and chat_window[0] <= now - span:
                chat_window.popleft()
            if len(chat_window) >= allowed:
                wait = max(wait, chat_window[0] + span - now)
                call.limited_by = "chat"
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        window.append(now)
        if chat_window is not None:
            chat_window.append(now)

    async def _handle(self, method: str, call: Call) -> Any:
        handler = self._methods().get(method)
        if handler is None:
            raise ApiError(404, "Not Found")
        return await handler(call)

    def _methods(self) -> dict[str, Callable[[Call], Awaitable[Any]]]:
        return {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit_message_text,
            "getfile": self._get_file,
            "sendchataction": self._true,
            "answercallbackquery": self._true,
            "setmycommands": self._true,
        }

    # --- methods --------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Support",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _true(self, call: Call) -> bool:
        return True

    async def _get_me(self, call: Call) -> dict[str, Any]:
        return self.bot_user()

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.calls.append(Call("download", {"path": path}, {}, self._clock()))
        self._notify()
        for stored in self._files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")
