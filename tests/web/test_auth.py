"""Sign-in, sessions, CSRF, lock-out, sign-out and roles, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yarl import URL

from bridge.model import Role
from tests.harness import Running, running_bridge
from tests.web.inbox_support import (
    PASSWORD,
    add_signed_in,
    customer_writes,
    jar,
    login_form,
    set_password,
    sign_in,
)


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(
        tmp_path,
        routing={"acknowledgements": {"enabled": False}},
        web={"login_max_failures": 3, "login_lockout_minutes": 15},
    ) as running:
        yield running


async def test_pages_need_a_session_and_send_to_login(bridge: Running) -> None:
    async with jar() as http:
        async with http.get(bridge.url("/inbox?c=1"), allow_redirects=False) as response:
            assert response.status == 303
            location = URL(response.headers["Location"])
            assert (location.path, location.query["next"]) == ("/login", "/inbox?c=1")
        async with http.get(bridge.url("/supervisor"), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(bridge.url("/api/inbox/lists")) as response:
            assert response.status == 401


async def test_sign_in_sets_a_locked_down_cookie_and_opens_the_inbox(bridge: Running) -> None:
    await set_password(bridge, bridge.agent)
    async with jar() as http:
        token = await login_form(http, bridge.base_url)
        async with http.post(
            bridge.url("/login"),
            data={"csrf": token, "email": "BEA@example.com", "password": PASSWORD},
            allow_redirects=False,
        ) as response:
            assert response.status == 303
            cookie = response.cookies["bridge_session"]
            assert cookie["httponly"]
            assert cookie["samesite"] == "Lax"
            assert cookie["path"] == "/"
            assert int(cookie["max-age"]) == 12 * 3600
            raw = response.headers.getall("Set-Cookie")
        assert any("bridge_session=" in c and "HttpOnly" in c for c in raw)
        async with http.get(bridge.url("/inbox")) as response:
            assert response.status == 200
            html = await response.text()
            assert "Bea Santos" in html
            assert response.headers["X-Frame-Options"] == "DENY"
            csp = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
    # Only the token's hash is stored.
    stored = await bridge.runtime.storage.database.run_read(
        lambda c: c.exec_driver_sql("SELECT token_hash FROM sessions").scalars().all()
    )
    assert len(stored) == 1
    assert cookie.value not in stored
    assert len(stored[0]) == 64


async def test_wrong_passwords_lock_the_account_for_a_while(bridge: Running) -> None:
    await set_password(bridge, bridge.agent)
    async with jar() as http:
        token = await login_form(http, bridge.base_url)

        async def attempt(password: str) -> int:
            async with http.post(
                bridge.url("/login"),
                data={"csrf": token, "email": "bea@example.com", "password": password},
                allow_redirects=False,
            ) as response:
                return response.status

        assert await attempt("wrong one 1") == 401
        assert await attempt("wrong one 2") == 401
        assert await attempt("wrong one 3") == 401
        # Locked: even the right password is refused without being checked.
        assert await attempt(PASSWORD) == 429
        async with http.get(bridge.url("/inbox"), allow_redirects=False) as response:
            assert response.status == 303
    # An unknown email answers like a wrong password.
    async with jar() as http:
        token = await login_form(http, bridge.base_url)
        async with http.post(
            bridge.url("/login"),
            data={"csrf": token, "email": "nobody@example.com", "password": PASSWORD},
        ) as response:
            assert response.status == 401
            assert "Wrong email or password." in await response.text()


async def test_the_login_form_needs_its_csrf_token(bridge: Running) -> None:
    await set_password(bridge, bridge.agent)
    async with (
        jar() as http,
        http.post(
            bridge.url("/login"),
            data={"email": "bea@example.com", "password": PASSWORD},
            allow_redirects=False,
        ) as response,
    ):
        assert response.status == 403
        assert "bridge_session" not in response.cookies


async def test_next_only_leads_to_pages_of_this_site(bridge: Running) -> None:
    await set_password(bridge, bridge.agent)
    async with jar() as http:
        for target, expected in (
            ("/inbox?c=3", "/inbox?c=3"),
            ("//evil.example/x", "/inbox"),
            ("https://evil.example/", "/inbox"),
        ):
            token = await login_form(http, bridge.base_url)
            http.cookie_jar.clear_domain(bridge.base_url.host or "")
            token = await login_form(http, bridge.base_url)
            async with http.post(
                bridge.url("/login"),
                data={
                    "csrf": token,
                    "email": "bea@example.com",
                    "password": PASSWORD,
                    "next": target,
                },
                allow_redirects=False,
            ) as response:
                assert response.headers["Location"] == expected


async def test_the_session_cookie_authenticates_the_api_and_needs_csrf_to_change_things(
    bridge: Running,
) -> None:
    conversation = await customer_writes(bridge)
    browser = await sign_in(bridge)
    try:
        async with browser.http.get(browser.url("/api/agents/me")) as response:
            assert response.status == 200
            assert (await response.json())["email"] == "bea@example.com"
        url = browser.url(f"/api/conversations/{conversation}/messages")
        body = {"text": "hello", "internal": False}
        async with browser.http.post(url, json=body) as response:
            assert response.status == 403
            assert (await response.json())["error"] == "csrf_failed"
        async with browser.http.post(url, json=body, headers={"X-CSRF-Token": "guess"}) as r:
            assert r.status == 403
        async with browser.http.post(
            url, json=body, headers={"X-CSRF-Token": browser.csrf}
        ) as response:
            assert response.status == 201
        # Forms too: without the hidden field nothing happens.
        response = await browser.form(
            f"/inbox/conversations/{conversation}/resolve", {}, csrf=False
        )
        assert response.status == 403
        current = await bridge.runtime.storage.conversations.get_conversation(conversation)
        assert current.status.value != "resolved"
        response = await browser.form(f"/inbox/conversations/{conversation}/resolve", {})
        assert response.status == 303
        current = await bridge.runtime.storage.conversations.get_conversation(conversation)
        assert current.status.value == "resolved"
        # A bearer token needs no CSRF token: no browser sends it on its own.
        async with bridge.http.post(
            bridge.url(f"/api/conversations/{conversation}/reopen"), headers=bridge.auth
        ) as response:
            assert response.status == 200
    finally:
        await browser.close()


async def test_sign_out_ends_the_session_everywhere(bridge: Running) -> None:
    browser = await sign_in(bridge)
    try:
        session = browser.http.cookie_jar.filter_cookies(URL(str(bridge.base_url)))
        stolen = session["bridge_session"].value
        response = await browser.form("/logout", {})
        assert response.status == 303
        assert response.headers["Location"] == "/login"
        async with browser.http.get(browser.url("/inbox"), allow_redirects=False) as r:
            assert r.status == 303
    finally:
        await browser.close()
    # A copy of the old cookie is worthless too.
    async with bridge.http.get(
        bridge.url("/api/agents/me"), headers={"Cookie": f"bridge_session={stolen}"}
    ) as response:
        assert response.status == 401


async def test_only_supervisors_and_admins_see_the_dashboard(bridge: Running) -> None:
    agent = await sign_in(bridge)
    supervisor = await add_signed_in(bridge, "Sam Boss", "sam@example.com", Role.SUPERVISOR)
    admin = await add_signed_in(bridge, "Ada Root", "ada@example.com", Role.ADMIN)
    try:
        status, html = await agent.page("/supervisor")
        assert status == 403
        assert "supervisors" in html
        async with agent.http.get(agent.url("/api/supervisor")) as response:
            assert response.status == 403
        for browser in (supervisor, admin):
            status, html = await browser.page("/supervisor")
            assert status == 200, html
            assert "In queue" in html
            async with browser.http.get(browser.url("/supervisor/chart.svg")) as response:
                assert response.status == 200
                assert response.content_type == "image/svg+xml"
    finally:
        for browser in (agent, supervisor, admin):
            await browser.close()
