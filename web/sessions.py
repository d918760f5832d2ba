"""Browser sessions of signed-in agents, and CSRF protection for them.

The cookie holds a random token (HttpOnly, SameSite, Secure on https); the store keeps only
its SHA-256 and the session's CSRF secret. Every state-changing request authenticated by the
cookie must also carry that secret, in the ``X-CSRF-Token`` header (scripts) or a ``csrf``
form field (forms): a synchronizer token, which another site cannot read and so cannot send.
Forms shown before there is a session (sign-in, the status page) use a double-submit cookie
instead (:func:`form_token`).
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta
from urllib.parse import quote

from aiohttp import web

from bridge.errors import Forbidden
from bridge.model import Agent
from bridge.ports import AgentSession
from bridge.tokens import hash_token
from web.services import WebServices

COOKIE = "bridge_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION = web.RequestKey("session", AgentSession)


class CsrfRefused(Forbidden):
    code = "csrf_failed"


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class SessionCache:
    """Sessions recently looked up, for a few seconds: the inbox's scripts make many calls a
    minute. Signing out drops the entry at once in this process."""

    def __init__(self, ttl: float = 5.0, size: int = 4096) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, AgentSession]] = {}

    def get(self, token_hash: str) -> AgentSession | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token_hash: str, session: AgentSession) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic() + self._ttl, session)

    def drop(self, token_hash: str) -> None:
        self._entries.pop(token_hash, None)


class Sessions:
    def __init__(self, services: WebServices, cache: SessionCache | None = None) -> None:
        self._services = services
        self._store = services.inbox.sessions
        self._settings = services.inbox.settings
        self._cache = cache or SessionCache()

    async def lookup(self, request: web.Request) -> AgentSession | None:
        """The request's session, also kept on the request; None without a valid cookie."""
        if SESSION in request:
            return request[SESSION]
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 200:
            return None
        token_hash = hash_token(token)
        session = self._cache.get(token_hash)
        now = self._services.clock.now()
        if session is None or session.expires_at <= now:
            session = await self._store.session_by_hash(token_hash, now)
            if session is None:
                return None
            self._cache.put(token_hash, session)
        request[SESSION] = session
        return session

    async def start(self, response: web.StreamResponse, agent: Agent) -> None:
        token = secrets.token_urlsafe(32)
        now = self._services.clock.now()
        hours = self._settings.session_hours
        await self._store.create_session(
            agent.id,
            hash_token(token),
            secrets.token_urlsafe(32),
            now,
            now + timedelta(hours=hours),
        )
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(hours * 3600),
            path="/",
            httponly=True,
            samesite=self._settings.cookie_samesite,
            secure=self._settings.secure_cookies,
        )

    async def end(self, request: web.Request, response: web.StreamResponse) -> None:
        token = request.cookies.get(COOKIE)
        if token:
            token_hash = hash_token(token)
            self._cache.drop(token_hash)
            await self._store.end_session(token_hash)
        response.del_cookie(COOKIE, path="/")

    def forget(self, request: web.Request) -> None:
        """Drop the request's session from the cache (its agent changed, e.g. presence)."""
        token = request.cookies.get(COOKIE)
        if token:
            self._cache.drop(hash_token(token))


async def require_session(
    sessions: Sessions, request: web.Request, *, supervisor: bool = False
) -> AgentSession:
    """The signed-in agent's session, or a redirect to ``/login`` (and back here after)."""
    session = await sessions.lookup(request)
    if session is None:
        target = request.path_qs if request.method == "GET" else "/inbox"
        raise web.HTTPSeeOther("/login?next=" + quote(target, safe=""))
    if supervisor and not session.agent.is_supervisor:
        raise Forbidden("this page is for supervisors and admins")
    return session


def check_csrf(request: web.Request, session: AgentSession, given: str | None = None) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong."""
    token = given if given is not None else request.headers.get(CSRF_HEADER)
    if not same_secret(token, session.csrf_secret):
        raise CsrfRefused("missing or wrong CSRF token: reload the page and try again")


def form_secret(request: web.Request, name: str) -> str:
    """A double-submit token for a form shown without a session: the same random value goes
    in an HttpOnly, SameSite=Strict cookie (:func:`set_form_cookie`) and in the form, and
    :func:`check_form_token` compares them. Another site can make a browser post the form but
    can neither read nor set the cookie."""
    token = request.cookies.get(name)
    if not token or len(token) != 32:
        token = secrets.token_hex(16)
    return token


def set_form_cookie(
    response: web.StreamResponse, name: str, token: str, *, path: str, secure: bool
) -> None:
    response.set_cookie(
        name, token, path=path, httponly=True, samesite="Strict", secure=secure, max_age=86400
    )


def check_form_token(request: web.Request, name: str, given: object) -> None:
    cookie = request.cookies.get(name)
    if not cookie or not isinstance(given, str) or not same_secret(given, cookie):
        raise CsrfRefused("missing or wrong CSRF token: reload the page and try again")
