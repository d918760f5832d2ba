"""``/login`` and ``/logout``: password sign-in with a lock-out after repeated failures.

Failures are counted per account and per address over ``login_lockout_minutes``; while either
is over its limit the password is not even checked, so guessing gains nothing, and the answer
is the same whether the account exists or not.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web

from bridge.errors import BridgeError
from web.passwords import Passwords
from web.render import Renderer, local_path, see_other
from web.services import WebServices
from web.sessions import Sessions, check_csrf, check_form_token, form_secret, set_form_cookie

log = logging.getLogger(__name__)

LOGIN_CSRF = "bridge_login_csrf"
MAX_FORM_BYTES = 8 * 1024


def subjects(email: str, address: str | None) -> tuple[str, str]:
    return f"email:{email.strip().lower()}", f"ip:{address or 'unknown'}"


class LoginPages:
    def __init__(
        self, services: WebServices, sessions: Sessions, passwords: Passwords | None = None
    ) -> None:
        self._services = services
        self._store = services.inbox.sessions
        self._settings = services.inbox.settings
        self._sessions = sessions
        self._passwords = passwords or Passwords()
        self._render = Renderer()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/login", self.form),
            web.post("/login", self.sign_in),
            web.post("/logout", self.sign_out),
        ]

    def _page(
        self, request: web.Request, *, status: int = 200, error: str = "", email: str = ""
    ) -> web.Response:
        token = form_secret(request, LOGIN_CSRF)
        response = self._render.page(
            "login.html",
            status=status,
            title="Sign in",
            csrf=token,
            error=error,
            email=email,
            next=local_path(request.query.get("next"), "/inbox"),
        )
        set_form_cookie(
            response, LOGIN_CSRF, token, path="/login", secure=self._settings.secure_cookies
        )
        return response

    async def form(self, request: web.Request) -> web.StreamResponse:
        if await self._sessions.lookup(request) is not None:
            return see_other(local_path(request.query.get("next"), "/inbox"))
        return self._page(request)

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > MAX_FORM_BYTES:
            return self._page(request, status=413, error="The form is too large.")
        form = await request.post()
        try:
            check_form_token(request, LOGIN_CSRF, form.get("csrf"))
        except BridgeError:
            return self._page(request, status=403, error="The form expired. Please sign in again.")
        email = str(form.get("email", "")).strip()[:320]
        password = str(form.get("password", ""))
        target = local_path(str(form.get("next", "")), "/inbox")
        now = self._services.clock.now()
        settings = self._settings
        by_account, by_address = subjects(email, request.remote)
        counted = await self._store.failures_since(
            [by_account, by_address], now - timedelta(minutes=settings.login_lockout_minutes)
        )
        if (
            counted[by_account] >= settings.login_max_failures
            or counted[by_address] >= settings.login_max_failures_per_ip
        ):
            log.warning("sign-in refused: locked out (%d failures)", counted[by_account])
            return self._page(
                request,
                status=429,
                email=email,
                error=(
                    "Too many failed sign-ins. Try again in "
                    f"{settings.login_lockout_minutes} minutes."
                ),
            )
        found = await self._store.credentials(email) if email else None
        stored = found[1] if found is not None else None
        if found is None or not await self._passwords.verify_async(stored, password):
            await self._store.record_failure([by_account, by_address], now)
            log.info("sign-in failed")
            return self._page(request, status=401, email=email, error="Wrong email or password.")
        agent = found[0]
        await self._store.clear_failures([by_account])
        response = see_other(target)
        await self._sessions.start(response, agent)
        log.info("agent %d signed in", agent.id)
        return response

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        session = await self._sessions.lookup(request)
        response = see_other("/login")
        if session is None:
            return response
        form = await request.post()
        check_csrf(request, session, str(form.get("csrf", "")))
        await self._sessions.end(request, response)
        log.info("agent %d signed out", session.agent.id)
        return response
