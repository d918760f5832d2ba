"""Signing in to the inbox over real HTTP, as a browser does: a cookie jar, the form's CSRF
token, and the session's CSRF token read from the page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bridge.clock import SystemClock
from bridge.model import Agent, Role, ThreadRef
from tests.factories import inbound
from tests.harness import Running
from web.passwords import Passwords

PASSWORD = "correct horse battery staple"
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_PASSWORDS = Passwords()


@dataclass
class Browser:
    """A signed-in agent's cookie jar, and the session's CSRF token."""

    http: aiohttp.ClientSession
    base: URL
    csrf: str
    agent: Agent | None = None

    def url(self, path: str) -> URL:
        return self.base.join(URL(path))

    async def form(
        self, path: str, data: dict[str, Any], *, csrf: bool = True
    ) -> aiohttp.ClientResponse:
        fields = {"csrf": self.csrf, **data} if csrf else data
        return await self.http.post(self.url(path), data=fields, allow_redirects=False)

    async def page(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url(path), headers={"Accept": "text/html"}) as response:
            return response.status, await response.text()

    async def close(self) -> None:
        await self.http.close()


async def set_password(bridge: Running, agent: Agent, password: str = PASSWORD) -> None:
    await bridge.runtime.storage.sessions.set_password(agent.id, _PASSWORDS.hash(password))


def jar() -> aiohttp.ClientSession:
    # The test server is an IP address: aiohttp keeps cookies for those only when "unsafe".
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login_form(http: aiohttp.ClientSession, base: URL) -> str:
    async with http.get(base.join(URL("/login"))) as response:
        assert response.status == 200
        found = _CSRF_FIELD.search(await response.text())
    assert found
    return found.group(1)


async def sign_in(
    bridge: Running,
    email: str = "bea@example.com",
    password: str = PASSWORD,
    *,
    agent: Agent | None = None,
) -> Browser:
    if agent is None and email == "bea@example.com":
        agent = bridge.agent
    if agent is not None:
        await set_password(bridge, agent, password)
    http = jar()
    try:
        return await _sign_in(http, bridge.base_url, email, password, agent)
    except BaseException:
        await http.close()
        raise


async def _sign_in(
    http: aiohttp.ClientSession, base: URL, email: str, password: str, agent: Agent | None
) -> Browser:
    token = await login_form(http, base)
    async with http.post(
        base.join(URL("/login")),
        data={"csrf": token, "email": email, "password": password, "next": "/inbox"},
        allow_redirects=False,
    ) as response:
        assert response.status == 303, await response.text()
        assert response.headers["Location"] == "/inbox"
    async with http.get(base.join(URL("/inbox"))) as response:
        assert response.status == 200
        found = _CSRF_META.search(await response.text())
    assert found
    return Browser(http, base, found.group(1), agent)


async def add_signed_in(bridge: Running, name: str, email: str, role: Role) -> Browser:
    agent, _token = await bridge.add_agent(name, email, role)
    return await sign_in(bridge, email, agent=agent)


async def customer_writes(
    bridge: Running, visitor: str = "v1", text: str = "help!", *, name: str = "Ana"
) -> int:
    thread = ThreadRef("webchat", "default", visitor)
    result = await bridge.runtime.ingestor.ingest(
        inbound(
            f"{visitor}:{text}", at=SystemClock().now(), thread=thread, text=text, sender_name=name
        )
    )
    await bridge.runtime.router.settle()
    return result.conversation.id
