"""The load of the crash run (bench/crash.py): customers on three channels and an agent.

* Web chat visitors resend each message with the same ``client_msg_id`` until its echo
  arrives, as the widget does; the echo is the acknowledgement. Every frame is kept, so notes
  can be looked for in what visitors saw.
* Telegram customers write through the fake Bot API (updates queued for ``getUpdates``); an
  update is acknowledged once a poll's offset confirmed it.
* Slack customers write DMs to the app: signed Events API posts to either process, each
  re-posted with the same ``event_id`` and ``X-Slack-Retry-Num`` until it is answered 200, as
  Slack retries an event it did not see acknowledged within 3 s.
* The agent replies to conversations of all three channels through the API, each request
  repeated with the same ``Idempotency-Key`` until answered, and every third message is an
  internal note carrying :attr:`Load.note_marker`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import aiohttp

from bench.telegram_common import ThreadedFake
from tests.slack.signing import event_callback, message_event, next_ts, sign
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import message

CHANNELS = ("webchat", "telegram", "slack")
#: Slack's deadline for answering an event (https://docs.slack.dev/apis/events-api/#responding).
SLACK_DEADLINE = 3.0
#: Telegram chat ids and Slack users/DMs of the customers, numbered from 1.
TELEGRAM_CHAT = 700_000
ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError, TypeError, ValueError, KeyError)


def _push(fake: FakeBotApi, chat: int, text: str) -> int:
    """The customer of ``chat`` writes ``text`` (on the fake's loop); returns the update id."""
    return fake.push_update({"message": message(fake, chat, text=text)})


class Endpoint(Protocol):
    @property
    def url(self) -> str: ...


def slack_user(n: int) -> str:
    return f"U{n:05d}"


def slack_dm(n: int) -> str:
    return f"D{n:05d}"


@dataclass
class Reply:
    text: str
    conversation: int
    channel: str


@dataclass
class Load:
    processes: Sequence[Endpoint]
    token: str
    telegram: ThreadedFake
    running: bool = True
    note_marker: str = field(default_factory=lambda: f"NOTE{secrets.token_hex(4)}")
    #: Acknowledged customer messages (their texts, unique), per channel.
    acked: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})
    visitor_resends: int = 0
    frames: list[dict[str, Any]] = field(default_factory=list)
    #: Telegram: update id -> text, for every update queued.
    updates: dict[int, str] = field(default_factory=dict)
    #: Slack: the events that were not answered 200 in the end, and the re-posts.
    slack_unanswered: set[str] = field(default_factory=set)
    slack_retries: int = 0
    slack_refused: int = 0  # answers other than 200 (a 503 while storing failed, say)
    replies: list[Reply] = field(default_factory=list)
    notes: list[Reply] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # --- web chat -------------------------------------------------------------------------

    async def visitor(self, http: aiohttp.ClientSession, n: int) -> None:
        token = None
        count = failures = 0
        while self.running:
            # Each message, and each reconnection, to the next process: a visitor does not
            # keep knocking at one that is down.
            process = self.processes[(n + count + failures) % len(self.processes)]
            try:
                if token is None:
                    async with http.post(process.url + "/webchat/sessions", json={}) as response:
                        token = (await response.json())["token"]
                async with http.ws_connect(f"{process.url}/webchat/ws?token={token}") as ws:
                    while self.running:
                        key = f"v{n}-m{count}"
                        await ws.send_json({"type": "message", "text": key, "client_msg_id": key})
                        while True:
                            frame = await asyncio.wait_for(ws.receive_json(), 10)
                            self.frames.append(frame)
                            if frame.get("type") == "message" and frame.get("text") == key:
                                break
                        self.acked["webchat"].add(key)
                        count += 1
                        await asyncio.sleep(random.uniform(0.05, 0.3))
            except ERRORS:
                self.visitor_resends += 1  # the same key goes again, to whichever process answers
                failures += 1
                await asyncio.sleep(0.2)

    # --- Telegram -------------------------------------------------------------------------

    async def telegram_customer(self, n: int) -> None:
        chat = TELEGRAM_CHAT + n
        count = 0
        while self.running:
            text = f"t{n}-m{count}"
            update_id = await self.telegram.run(partial(_push, self._bot_api(), chat, text))
            self.updates[update_id] = text
            count += 1
            await asyncio.sleep(random.uniform(0.1, 0.6))

    def _bot_api(self) -> FakeBotApi:
        assert self.telegram.fake is not None
        return self.telegram.fake

    async def telegram_confirmed(self) -> None:
        """Mark every update a poll's offset confirmed as acknowledged."""
        pending = await self.telegram.run(lambda: self._bot_api().pending_update_ids)
        self.acked["telegram"] = {t for u, t in self.updates.items() if u not in pending}

    # --- Slack ----------------------------------------------------------------------------

    async def slack_customer(self, http: aiohttp.ClientSession, n: int) -> None:
        count = 0
        while self.running:
            text = f"s{n}-m{count}"
            event = message_event(slack_dm(n), slack_user(n), text, ts=next_ts(), channel_type="im")
            await self._deliver_event(http, event_callback(event, event_id=f"Ev{n}x{count}"), text)
            count += 1
            await asyncio.sleep(random.uniform(0.05, 0.3))

    async def _deliver_event(
        self, http: aiohttp.ClientSession, envelope: dict[str, Any], text: str
    ) -> None:
        """Post until answered 200, as Slack does; after the load stops, give up after a
        while (Slack gives up after three retries)."""
        body = json.dumps(envelope).encode()
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        for attempt in itertools.count():
            process = random.choice(self.processes)
            headers = {"Content-Type": "application/json", **sign(body)}
            if attempt:
                headers["X-Slack-Retry-Num"] = str(attempt)
                headers["X-Slack-Retry-Reason"] = "http_timeout"
                self.slack_retries += 1
            try:
                async with asyncio.timeout(SLACK_DEADLINE):
                    async with http.post(
                        process.url + "/slack/events", data=body, headers=headers
                    ) as response:
                        status = response.status
            except ERRORS:
                status = 0
            if status == 200:
                self.acked["slack"].add(text)
                return
            if status:
                self.slack_refused += 1
            if not self.running:
                deadline = deadline or loop.time() + 30
                if loop.time() > deadline:
                    self.slack_unanswered.add(text)
                    return
            await asyncio.sleep(min(0.2 * 2**attempt, 2.0))

    # --- the agent ------------------------------------------------------------------------

    async def agent(self, http: aiohttp.ClientSession) -> None:
        n = 0
        while self.running:
            process = random.choice(self.processes)
            channel = CHANNELS[n % len(CHANNELS)]
            try:
                async with http.get(
                    f"{process.url}/api/conversations?limit=200", headers=self.auth
                ) as r:
                    items = [c for c in (await r.json())["items"] if c["channel"] == channel]
            except ERRORS:
                await asyncio.sleep(0.2)
                continue
            if not items:
                n += 1
                await asyncio.sleep(0.1)
                continue
            conversation = int(random.choice(items)["id"])
            internal = (n // len(CHANNELS)) % 3 == 2
            text = f"{self.note_marker}-{n}" if internal else f"reply-{n}"
            await self._post(http, conversation, text, internal)
            (self.notes if internal else self.replies).append(Reply(text, conversation, channel))
            n += 1
            await asyncio.sleep(0.1)

    async def _post(
        self, http: aiohttp.ClientSession, conversation: int, text: str, internal: bool
    ) -> None:
        """Repeat with the same Idempotency-Key, on either process, until it is answered."""
        while True:
            process = random.choice(self.processes)
            try:
                async with http.post(
                    f"{process.url}/api/conversations/{conversation}/messages",
                    json={"text": text, "internal": internal},
                    headers={**self.auth, "Idempotency-Key": text},
                ) as response:
                    if response.status in (200, 201):
                        return
            except ERRORS:
                pass
            await asyncio.sleep(0.2)
