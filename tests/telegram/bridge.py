"""The whole bridge with the Telegram channel pointed at a fake Bot API server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp.test_utils import TestServer

from bridge.clock import SystemClock
from bridge.ports import NewAgent
from bridge.tokens import hash_token, new_token
from channels.telegram.adapter import TelegramAdapter
from config.schema import Settings
from runtime.app import Runtime
from tests.harness import Running, test_settings
from tests.telegram.conftest import TOKEN
from tests.telegram.fake_bot_api import FakeBotApi
from web.app import runner_options

SOURCE = "telegram:default"


def telegram_settings(
    tmp_path: Path, fake: FakeBotApi, *, telegram: dict[str, Any] | None = None, **sections: Any
) -> Settings:
    """Test settings: no pacing waits unless asked for, short backoffs."""
    channel = {
        "token": TOKEN,
        "api_server": fake.base_url,
        "poll_backoff_max": 0.2,
        "messages_per_second": 30,
        "chat_interval": 0.0,
        "group_interval": 0.0,
        **(telegram or {}),
    }
    channels = {**sections.pop("channels", {}), "telegram": channel}
    return test_settings(tmp_path, channels=channels, **sections)


def adapter_of(runtime: Runtime) -> TelegramAdapter:
    return cast(TelegramAdapter, runtime.adapters[SOURCE])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def telegram_bridge(
    tmp_path: Path,
    fake: FakeBotApi,
    *,
    telegram: dict[str, Any] | None = None,
    acknowledgements: bool = False,
    **sections: Any,
) -> AsyncIterator[Running]:
    """Like ``tests.harness.running_bridge``, on a port known before the start (the webhook's
    address is the public URL), with the channel connected before the test begins."""
    port = free_port()
    routing = {"acknowledgements": {"enabled": acknowledgements}, **sections.pop("routing", {})}
    server_section = {"public_url": f"http://127.0.0.1:{port}", **sections.pop("server", {})}
    settings = telegram_settings(
        tmp_path, fake, telegram=telegram, routing=routing, server=server_section, **sections
    )
    runtime = Runtime(settings, clock=SystemClock())
    server = TestServer(runtime.web_app, host="127.0.0.1", port=port)
    await server.start_server(**runner_options())
    await runtime.start()
    http = aiohttp.ClientSession()
    token = new_token("brg")
    agent = await runtime.storage.agents.add_agent(
        NewAgent("Bea Santos", "bea@example.com"), hash_token(token), runtime.clock.now()
    )
    try:
        await adapter_of(runtime).settled()
        yield Running(runtime, server, http, agent, token)
    finally:
        await http.close()
        await runtime.stop()
        await server.close()
