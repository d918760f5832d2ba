"""The whole bridge with the Slack channel, talking to the fake Slack Web API.

:func:`slack_bridge` starts the fake on an ephemeral port, the bridge (composition root and
all) pointed at it with ``channels.slack.api_url``, and gives tests a :class:`SlackBridge`
that sends signed requests to ``/slack/*``, opens web chat visitors and waits on conditions —
never on the clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bridge.model import Agent, Conversation, Message, Presence, Role
from bridge.ports import NewAgent
from bridge.tokens import hash_token, new_token
from channels.slack.adapter import SlackAdapter
from tests.harness import Running, running_bridge
from tests.slack.fake_web_api import BOT_TOKEN, FakeSlack
from tests.slack.signing import (
    SIGNING_SECRET,
    block_action,
    event_callback,
    message_event,
    sign,
    slash_command,
    view_submission,
)

SUPPORT = "C0SUPPORT"
SUPERVISORS = "C0SUPER"
SHARED = "C0SHARED"
WAIT = 10.0

Frame = dict[str, Any]


@dataclass
class Visitor:
    ws: aiohttp.ClientWebSocketResponse
    frames: list[Frame] = field(default_factory=list)

    async def say(self, text: str, client_msg_id: str) -> Frame:
        """Send a message; returns its echo, which comes once it is stored."""
        await self.ws.send_json({"type": "message", "text": text, "client_msg_id": client_msg_id})
        return await self.next_message(client_msg_id=client_msg_id)

    async def next_message(self, **wanted: Any) -> Frame:
        """The next message frame matching ``wanted``; every frame read is kept."""
        async with asyncio.timeout(WAIT):
            while True:
                frame = await self.ws.receive_json()
                self.frames.append(frame)
                if frame["type"] == "message" and all(frame.get(k) == v for k, v in wanted.items()):
                    return frame

    def texts(self) -> list[str]:
        return [f["text"] for f in self.frames if f["type"] == "message"]


@dataclass
class SlackBridge:
    bridge: Running
    fake: FakeSlack

    @property
    def adapter(self) -> SlackAdapter:
        adapter = self.bridge.runtime.adapters["slack:default"]
        assert isinstance(adapter, SlackAdapter)
        return adapter

    # --- requests from Slack --------------------------------------------------------------

    async def signed_post(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
    ) -> aiohttp.ClientResponse:
        all_headers = {"Content-Type": content_type, **sign(body, timestamp=timestamp)}
        all_headers.update(headers or {})
        async with self.bridge.http.post(
            self.bridge.url(path), data=body, headers=all_headers
        ) as response:
            await response.read()
            return response

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> int:
        body = json.dumps(event_callback(event, event_id=event_id)).encode()
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        response = await self.signed_post(
            "/slack/events", body, headers=headers if retry is not None else None
        )
        return response.status

    async def say_in_thread(self, root_ts: str, user: str, text: str, **kw: Any) -> str:
        """An agent (or anyone) writes in a conversation's thread; returns the message's ts."""
        event = message_event(SUPPORT, user, text, thread_ts=root_ts, **kw)
        assert await self.send_event(event) == 200
        return str(event["ts"])

    async def click(self, action: str, conversation_id: int, user: str, message_ts: str) -> int:
        body = block_action(
            action, str(conversation_id), user=user, channel=SUPPORT, message_ts=message_ts
        )
        response = await self.signed_post(
            "/slack/interactivity", body, content_type="application/x-www-form-urlencoded"
        )
        return response.status

    async def submit_view(self, metadata: str, values: dict[str, Any], user: str) -> Any:
        body = view_submission("escalate", metadata, values, user=user)
        async with self.bridge.http.post(
            self.bridge.url("/slack/interactivity"),
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)},
        ) as response:
            assert response.status == 200
            text = await response.text()
            return json.loads(text) if text else None

    async def command(self, text: str, user: str) -> int:
        body = slash_command(
            "/queue",
            user=user,
            channel=SUPPORT,
            response_url=f"{self.fake.url}/respond/1",
            text=text,
        )
        response = await self.signed_post(
            "/slack/commands", body, content_type="application/x-www-form-urlencoded"
        )
        return response.status

    # --- people ---------------------------------------------------------------------------

    async def slack_agent(
        self,
        user: str,
        name: str,
        email: str,
        *,
        role: Role = Role.AGENT,
        mapped: bool = True,
        online: bool = False,
    ) -> Agent:
        """An agent whose Slack user is ``user`` (mapped explicitly, or by email)."""
        runtime = self.bridge.runtime
        self.fake.add_user(user, name, email=email)
        return await runtime.storage.agents.add_agent(
            NewAgent(
                name,
                email,
                role=role,
                slack_user_id=user if mapped else None,
                presence=Presence.ONLINE if online else Presence.OFFLINE,
            ),
            hash_token(new_token("brg")),
            runtime.clock.now(),
        )

    async def visitor(self, name: str) -> Visitor:
        http, bridge = self.bridge.http, self.bridge
        async with http.post(bridge.url("/webchat/sessions"), json={"name": name}) as r:
            token = (await r.json())["token"]
        return Visitor(await http.ws_connect(bridge.url(f"/webchat/ws?token={token}")))

    # --- what happened --------------------------------------------------------------------

    async def settle(self) -> None:
        assert await self.adapter.settle(WAIT)
        await self.bridge.runtime.router.settle()
        assert await self.adapter.settle(WAIT)

    async def wait(self, predicate: Callable[[], Any]) -> Any:
        return await self.fake.wait_for(predicate, WAIT)

    async def root_of(self, conversation_id: int) -> str:
        """The ts of a conversation's root message, once it is posted."""

        def root() -> str | None:
            for posted in self.fake.roots(SUPPORT):
                if f"*#{conversation_id}*" in json.dumps(posted.args.get("blocks")):
                    return posted.ts
            return None

        ts: str = await self.wait(root)
        await self.settle()  # the bridge has noted the thread (after Slack answered the post)
        return ts

    async def only_conversation(self) -> Conversation:
        page = await self.bridge.runtime.storage.conversations.list_conversations()
        [only] = page.items
        return only

    async def messages(self, conversation_id: int) -> list[Message]:
        return await self.bridge.runtime.storage.conversations.messages(conversation_id)

    async def delivered_texts(self, conversation_id: int) -> list[str]:
        """Texts of the messages that have a delivery row (anything bound for a customer)."""
        store = self.bridge.runtime.storage.conversations
        ids = {d.message_id for d in await store.deliveries_for(conversation_id)}
        return [m.text for m in await store.messages(conversation_id) if m.id in ids]

    async def readyz(self) -> dict[str, Any]:
        async with self.bridge.http.get(self.bridge.url("/readyz")) as response:
            data: dict[str, Any] = await response.json()
            return data


def slack_settings(fake: FakeSlack, **overrides: Any) -> dict[str, Any]:
    return {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "api_url": fake.base_url,
        "support_channel": SUPPORT,
        "supervisor_channel": SUPERVISORS,
        "customer_channels": [SHARED],
        "hold_seconds": 0,
        "root_update_delay": 0.05,
        # Slack allows about 1 post per second per channel; tests need not wait for that.
        "messages_per_second": 10,
        "alert_queue_length": 0,
        "alert_oldest_wait": 0,
        **overrides,
    }


@asynccontextmanager
async def slack_bridge(
    tmp_path: Path,
    *,
    prepare: Callable[[FakeSlack], None] | None = None,
    acknowledgements: bool = False,
    routing: dict[str, Any] | None = None,
    **slack: Any,
) -> AsyncIterator[SlackBridge]:
    fake = FakeSlack()
    for channel, name in ((SUPPORT, "support"), (SUPERVISORS, "supervisors"), (SHARED, "acme")):
        fake.add_channel(channel, name)
    if prepare is not None:
        prepare(fake)
    await fake.start()
    try:
        sections: dict[str, Any] = {
            "channels": {"slack": slack_settings(fake, **slack)},
            "routing": {"acknowledgements": {"enabled": acknowledgements}, **(routing or {})},
        }
        async with running_bridge(tmp_path, **sections) as bridge:
            yield SlackBridge(bridge, fake)
    finally:
        await fake.stop()
