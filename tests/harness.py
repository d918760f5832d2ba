"""The whole bridge, built by the composition root, served on an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from yarl import URL

from bridge.clock import SystemClock
from bridge.model import Agent, Role
from bridge.ports import Clock, NewAgent
from bridge.tokens import hash_token, new_token
from config.schema import Settings
from runtime.app import Runtime
from web.app import runner_options


@dataclass
class Running:
    runtime: Runtime
    server: TestServer
    http: aiohttp.ClientSession
    agent: Agent
    token: str

    @property
    def base_url(self) -> URL:
        return self.server.make_url("/")

    def url(self, path: str) -> URL:
        return self.server.make_url(path)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def add_agent(self, name: str, email: str, role: Role = Role.AGENT) -> tuple[Agent, str]:
        token = new_token("brg")
        agent = await self.runtime.storage.agents.add_agent(
            NewAgent(name, email, role=role), hash_token(token), self.runtime.clock.now()
        )
        return agent, token


def test_settings(tmp_path: Path, **sections: Any) -> Settings:
    values: dict[str, Any] = {
        "storage": {
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/bridge.db",
            "files_dir": str(tmp_path / "files"),
        },
        "outbox": {"retry_initial": 0.01, "retry_max": 0.1},
        "server": {"shutdown_timeout": 5.0},
    }
    for name, section in sections.items():
        values[name] = {**values.get(name, {}), **section}
    return Settings(**values)


@asynccontextmanager
async def running_bridge(
    tmp_path: Path, *, clock: Clock | None = None, **sections: Any
) -> AsyncIterator[Running]:
    runtime = Runtime(test_settings(tmp_path, **sections), clock=clock or SystemClock())
    await runtime.start()
    server = TestServer(runtime.web_app, host="127.0.0.1")
    await server.start_server(**runner_options())
    http = aiohttp.ClientSession()
    token = new_token("brg")
    agent = await runtime.storage.agents.add_agent(
        NewAgent("Bea Santos", "bea@example.com"), hash_token(token), runtime.clock.now()
    )
    try:
        yield Running(runtime, server, http, agent, token)
    finally:
        await http.close()
        await runtime.stop()
        await server.close()
