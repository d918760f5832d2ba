"""A fake Slack Web API on 127.0.0.1, for slack_sdk pointed at it with ``base_url``.

It speaks the wire protocol slack_sdk speaks to slack.com: ``GET`` or ``POST /api/<method>``
with form-encoded, query or JSON arguments and ``Authorization: Bearer <token>``; answers are
``{"ok": true, ...}`` or ``{"ok": false, "error": ...}`` with HTTP 200, except rate limits
(HTTP 429, ``Retry-After``) — https://docs.slack.dev/apis/web-api/rate-limits.

What it keeps: every call (:attr:`FakeSlack.calls`), the messages of each channel with their
thread, edits and reactions, users, channels. What tests inject: the next answers of a method
(:meth:`FakeSlack.fail`, :meth:`FakeSlack.ratelimit`), an archived channel, a bot not in a
channel. ``limit_posts`` enforces Slack's 1 message/s per channel for the benchmark.

Idempotency: not Slack's, the bridge's. A call carrying ``X-Bridge-Idempotency-Key`` with a
key that succeeded before is answered with the first answer and posts nothing again; it is
counted in :attr:`FakeSlack.repeated_keys`.

Socket Mode: ``apps.connections.open`` hands out ``ws://.../socket``, where the fake says
``hello`` and tests push envelopes (:meth:`FakeSlack.push_envelope`) and read the acks.

Files: ``files.getUploadURLExternal`` returns an upload URL on this server; the upload and
``files.completeUploadExternal`` post a file message into the channel or thread. Files
customers send are served at ``/files/<id>`` (bot token required), as ``url_private``.

Run it alone (for the benchmarks): ``python -m tests.slack.fake_web_api --port N [--limit]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
TEAM = "T0TEAM"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
#: The bridge's idempotency key of one post (channels/slack/api.py).
IDEMPOTENCY_HEADER = "X-Bridge-Idempotency-Key"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200
    error: str | None = None
    key: str | None = None  # the X-Bridge-Idempotency-Key it carried
    repeated: bool = False  # that key had succeeded before: answered again, nothing posted


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    thread_ts: str | None
    args: dict[str, Any]
    edits: list[str] = field(default_factory=list)
    deleted: bool = False
    files: list[str] = field(default_factory=list)
    key: str | None = None  # the idempotency key it was posted with


@dataclass
class Injected:
    error: str
    status: int = 200
    retry_after: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None  # only calls about this channel


class FakeSlack:
    def __init__(self, *, limit_posts: bool = False, post_interval: float = 1.0) -> None:
        self.token = BOT_TOKEN
        self.app_token = APP_TOKEN
        self.calls: list[Call] = []
        self.posted: list[Posted] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # bodies posted to response_url
        self.views: list[dict[str, Any]] = []
        self.reactions: dict[tuple[str, str], list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.limit_posts = limit_posts
        self.post_interval = post_interval
        self.last_post: dict[str, float] = {}
        self.limited = 0
        self.repeated_keys = 0
        self._answers: dict[str, dict[str, Any]] = {}  # idempotency key -> the first answer
        self.delays: dict[str, float] = {}  # method -> seconds before it answers
        self.in_flight: dict[str, int] = {}
        self.most_in_flight: dict[str, int] = {}  # method -> most calls under way at once
        self._injected: dict[str, list[Injected]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self.acks: list[dict[str, Any]] = []
        self.socket_opened = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{id}", self._upload)
        app.router.add_get("/files/{id}", self._download)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/_fake/stats", self._stats)
        return app

    async def start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What slack_sdk's ``base_url`` needs (with its trailing slash)."""
        return f"{self.url}/api/"

    # --- test controls --------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        email: str | None = None,
        confirmed: bool = True,
        is_bot: bool = False,
        team: str = TEAM,
    ) -> None:
        profile: dict[str, Any] = {"real_name": name, "display_name": name.split()[0]}
        if email is not None:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": team,
            "name": name.lower().replace(" ", "."),
            "real_name": name,
            "is_bot": is_bot,
            "is_email_confirmed": confirmed,
            "profile": profile,
        }

    def add_channel(
        self, channel: str, name: str, *, archived: bool = False, member: bool = True
    ) -> None:
        self.channels[channel] = {
            "id": channel,
            "name": name,
            "is_archived": archived,
            "is_member": member,
            "is_channel": channel.startswith("C"),
            "is_im": channel.startswith("D"),
        }

    def add_file(self, name: str, data: bytes, mimetype: str = "text/plain") -> dict[str, Any]:
        """A file a user shared, as it appears in a message event's ``files``."""
        file_id = f"F{next(self._ids):06d}"
        self.files[file_id] = data
        return {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "size": len(data),
            "url_private": f"{self.url}/files/{file_id}",
            "url_private_download": f"{self.url}/files/{file_id}",
        }

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int = 1,
        status: int = 200,
        retry_after: int | None = None,
        channel: str | None = None,
        **extra: Any,
    ) -> None:
        """The next ``times`` calls of ``method`` (about ``channel``, when given) fail with
        ``error``."""
        queue = self._injected.setdefault(method, [])
        queue.extend(Injected(error, status, retry_after, extra, channel) for _ in range(times))

    def ratelimit(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        self.fail(method, "ratelimited", times=times, status=429, retry_after=retry_after)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def in_thread(self, channel: str, thread_ts: str) -> list[Posted]:
        return [p for p in self.posted if p.channel == channel and p.thread_ts == thread_ts]

    def roots(self, channel: str) -> list[Posted]:
        return [p for p in self.posted if p.channel == channel and p.thread_ts is None]

    def reactions_on(self, channel: str, ts: str) -> list[str]:
        return self.reactions.get((channel, ts), [])

    def message(self, channel: str, ts: str) -> Posted:
        for p in self.posted:
            if p.channel == channel and p.ts == ts:
                return p
        raise KeyError(f"{channel}:{ts}")

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every call); returns it."""
        async with asyncio.timeout(timeout), self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                await self._changed.wait()

    async def push_envelope(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to every connected client."""
        for ws in self._sockets:
            await ws.send_str(json.dumps(envelope))

    # --- the Web API ----------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        call = Call(method, args, time.monotonic(), key=key)
        self.calls.append(call)
        if key is not None and key in self._answers:
            call.repeated = True
            self.repeated_keys += 1
            await self._notify()
            return web.json_response(self._answers[key])
        if method in self.delays:
            self.in_flight[method] = self.in_flight.get(method, 0) + 1
            self.most_in_flight[method] = max(
                self.most_in_flight.get(method, 0), self.in_flight[method]
            )
            try:
                await asyncio.sleep(self.delays[method])  # a slow Slack
            finally:
                self.in_flight[method] -= 1
        try:
            status, body, headers = self._answer(method, args, request)
        except Exception as error:  # a bug in the fake shows in the test, not as a hang
            status, body, headers = 500, {"ok": False, "error": f"fake: {error!r}"}, {}
        if key is not None and body.get("ok"):
            self._answers[key] = body
            if method == "chat.postMessage":
                self.message(str(body["channel"]), str(body["ts"])).key = key
        call.status = status
        call.error = None if body.get("ok") else str(body.get("error"))
        await self._notify()
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, args: dict[str, Any], request: web.Request
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        expected = self.app_token if method == "apps.connections.open" else self.token
        auth = request.headers.get("Authorization", "")
        token = args.get("token") or auth.removeprefix("Bearer ")
        if token != expected:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        queue = self._injected.get(method) or []
        injected = next(
            (i for i in queue if i.channel is None or i.channel == args.get("channel")), None
        )
        if injected is not None:
            queue.remove(injected)
            headers = {}
            if injected.retry_after is not None:
                headers["Retry-After"] = str(injected.retry_after)
            return (
                injected.status,
                {"ok": False, "error": injected.error, **injected.extra},
                headers,
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        result: tuple[int, dict[str, Any], dict[str, str]] = handler(args)
        return result

    def _ok(self, **data: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"ok": True, **data}, {}

    def _err(self, error: str, **data: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"ok": False, "error": error, **data}, {}

    def _channel_problem(self, channel: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if not channel:
            return self._err("channel_not_found")
        info = self.channels.get(channel)
        if info is None:
            if channel.startswith("D"):
                return None  # direct messages need no setup
            return self._err("channel_not_found")
        if info["is_archived"]:
            return self._err("is_archived")
        if not info["is_member"]:
            return self._err("not_in_channel")
        return None

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def _m_auth_test(self, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        return self._ok(
            url="https://fake.slack.com/",
            team="Fake Team",
            user="bridge",
            team_id=TEAM,
            user_id=BOT_USER,
            bot_id=BOT_ID,
        )

    def _m_chat_postMessage(  # noqa: N802 (the Web API's method name)
        self, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = str(args.get("channel", ""))
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        if self.limit_posts:
            now = time.monotonic()
            last = self.last_post.get(channel)
            if last is not None and now - last < self.post_interval:
                self.limited += 1
                wait = max(1, round(self.post_interval - (now - last) + 0.5))
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
            self.last_post[channel] = now
        text = str(args.get("text", ""))
        if not text and not args.get("blocks"):
            return self._err("no_text")
        ts = self._next_ts()
        thread_ts = args.get("thread_ts") or None
        self.posted.append(Posted(channel, ts, text, thread_ts, args))
        message = {"type": "message", "text": text, "ts": ts, "user": BOT_USER, "bot_id": BOT_ID}
        return self._ok(channel=channel, ts=ts, message=message)

    def _m_chat_update(self, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        try:
            posted = self.message(channel, ts)
        except KeyError:
            return self._err("message_not_found")
        posted.edits.append(str(args.get("text", "")))
        posted.text = str(args.get("text", ""))
        if args.get("blocks"):
            posted.args = {**posted.args, "blocks": args["blocks"]}
        return self._ok(channel=channel, ts=ts, text=posted.text)

    def _m_chat_delete(self, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            posted = self.message(str(args.get("channel", "")), str(args.get("ts", "")))
        except KeyError:
            return self._err("message_not_found")
        posted.deleted = True
        return self._ok(channel=posted.channel, ts=posted.ts)

    def _m_chat_postEphemeral(  # noqa: N802
        self, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        problem = self._channel_problem(str(args.get("channel", "")))
        if problem is not None:
            return problem
        if not args.get("user"):
            return self._err("user_not_in_channel")
        self.ephemeral.append(args)
        return self._ok(message_ts=self._next_ts())

    def _m_reactions_add(self, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel, ts = str(args.get("channel", "")), str(args.get("timestamp", ""))
        name = str(args.get("name", ""))
        if not ts:
            return self._err("no_item_specified")
        # Users' messages are not stored here (only the bot's), so reactions are kept apart.
        reactions = self.reactions.setdefault((channel, ts), [])
        if name in reactions:
            return self._err("already_reacted")
        reactions.append(name)
        return self._ok()

    def _m_users_info(self, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return self._err("user_not_found")
        return self._ok(user=user)

    def _m_users_lookupByEmail(  # noqa: N802
        self, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return self._ok(user=user)
        return self._err("users_not_found")

    def _m_conversations_info(
        self, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        info = self.channels.get(str(args.get("channel", "")))
        if info is None:
            return self._err("channel_not_found")
        return self._ok(channel=info)

    def _m_views_open(self, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not args.get("trigger_id"):
            return self._err("invalid_trigger_id")
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        self.views.append({"trigger_id": args["trigger_id"], "view": view})
        return self._ok(view={"id": f"V{next(self._ids):06d}", **(view or {})})

    def _m_apps_connections_open(
        self, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        return self._ok(url=f"ws://127.0.0.1:{self.port}/socket")

    def _m_files_getUploadURLExternal(  # noqa: N802
        self, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        file_id = f"F{next(self._ids):06d}"
        self.uploads[file_id] = {"filename": args.get("filename"), "length": args.get("length")}
        return self._ok(upload_url=f"{self.url}/upload/{file_id}", file_id=file_id)

    def _m_files_completeUploadExternal(  # noqa: N802
        self, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        files = args.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        channel = str(args.get("channel_id", ""))
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        ids = [str(f["id"]) for f in files or []]
        if any("data" not in self.uploads.get(i, {}) for i in ids):
            return self._err("file_not_found")
        posted = Posted(
            channel,
            self._next_ts(),
            str(args.get("initial_comment", "")),
            args.get("thread_ts") or None,
            args,
            files=[str(self.uploads[i]["filename"]) for i in ids],
        )
        self.posted.append(posted)
        return self._ok(files=[{"id": i, "title": self.uploads[i]["filename"]} for i in ids])

    # --- other endpoints ------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        if file_id not in self.uploads:
            return web.Response(status=404)
        self.uploads[file_id]["data"] = await request.read()
        await self._notify()
        return web.Response(text=f"OK - {len(self.uploads[file_id]['data'])}")

    async def _download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=403, text="login page")
        data = self.files.get(request.match_info["id"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append({"id": request.match_info["id"], **(await request.json())})
        await self._notify()
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.socket_opened.set()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self.acks.append(json.loads(msg.data))
                    await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    async def _stats(self, request: web.Request) -> web.Response:
        """What the benchmark reads: every chat.postMessage (channel, time, status)."""
        posts = self.calls_of("chat.postMessage")
        return web.json_response(
            {
                "posts": [[c.args.get("channel"), c.at, c.status] for c in posts],
                "limited": self.limited,
                "calls": len(self.calls),
                "repeated_keys": self.repeated_keys,
            }
        )

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


async def _arguments(request: web.Request) -> dict[str, Any]:
    """The call's arguments wherever slack_sdk put them: query, form or JSON body."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in ("blocks", "attachments"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--limit", action="store_true", help="1 message/s per channel")
    parser.add_argument("--channels", default="", help="comma-separated channel ids to create")
    parser.add_argument("--users", type=int, default=0, help="users U00001... to create")
    options = parser.parse_args()

    async def serve() -> None:
        fake = FakeSlack(limit_posts=options.limit)
        for channel in filter(None, options.channels.split(",")):
            fake.add_channel(channel, channel.lower())
        for n in range(1, options.users + 1):
            fake.add_user(f"U{n:05d}", f"Customer {n}", email=f"customer{n}@example.com")
        await fake.start(options.port)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
