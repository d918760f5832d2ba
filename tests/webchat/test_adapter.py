"""The web chat adapter over a real stack: SQLite store, ingest, dispatcher, HTTP and websockets.

Tests never sleep: they wait for a frame or a bus event with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bridge.clock import ManualClock
from bridge.conversations import ConversationService
from bridge.dispatcher import Dispatcher, RetryPolicy
from bridge.events import CustomerTyping, DeliverySent, Event
from bridge.gate import public_view
from bridge.ingest import Ingestor
from bridge.model import Agent, Author, Conversation, Message, ThreadRef, Visibility
from bridge.outbound import OutboundMessage
from bridge.ports import ConversationPolicy, Health, NewAgent, Subscription
from bridge.tokens import hash_token, new_token
from channels.webchat.adapter import WebchatAdapter
from channels.webchat.settings import WebchatSettings
from storage.bus import InProcessBus
from storage.migrate import upgrade
from storage.store import Storage

WAIT = 5.0  # seconds to wait for a frame or event before the test fails
POLICY = ConversationPolicy(reopen_window=timedelta(hours=72))

Socket = Any  # aiohttp's ClientWebSocketResponse
Frame = dict[str, Any]


@dataclass
class Stack:
    storage: Storage
    bus: InProcessBus
    clock: ManualClock
    service: ConversationService
    ingestor: Ingestor
    adapter: WebchatAdapter
    client: TestClient[web.Request, web.Application]
    sockets: list[Socket] = field(default_factory=list)

    async def session(self, body: object = None, **headers: str) -> dict[str, Any]:
        response = await self.client.post(
            "/webchat/sessions", data=b"" if body is None else json.dumps(body), headers=headers
        )
        assert response.status == 201, await response.text()
        data: dict[str, Any] = await response.json()
        return data

    async def connect(self, token: str, **headers: str) -> Socket:
        ws = await self.client.ws_connect("/webchat/ws", params={"token": token}, headers=headers)
        self.sockets.append(ws)
        return ws

    async def visitor(self) -> tuple[str, Socket, Frame]:
        """A new visitor's token, open socket, and the status frame it was greeted with."""
        token = (await self.session())["token"]
        ws = await self.connect(token)
        return token, ws, await next_frame(ws, "status")

    async def agent(self) -> Agent:
        return await self.storage.agents.add_agent(
            NewAgent("Bea Agent", "bea@example.com"), hash_token(new_token("brg")), self.clock.now()
        )

    async def conversation(self, visitor_id: str) -> Conversation:
        found = await self.storage.conversations.current_conversation(
            ThreadRef("webchat", "default", visitor_id)
        )
        assert found is not None
        return found

    async def conversation_id(self) -> int:
        """The id of the one conversation in the store."""
        page = await self.storage.conversations.list_conversations()
        [only] = page.items
        return only.id

    async def texts(self) -> list[str]:
        """The texts of every message of the one conversation in the store."""
        return [
            m.text for m in await self.storage.conversations.messages(await self.conversation_id())
        ]

    async def customer_messages(self, conversation_id: int) -> list[Message]:
        history = await self.storage.conversations.messages(conversation_id)
        return [m for m in history if m.author is Author.CUSTOMER]


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(tmp_path: Path, clock: ManualClock) -> AsyncIterator[StackFactory]:
    stopping: list[Callable[[], Awaitable[None]]] = []

    async def make(**settings: Any) -> Stack:
        storage = Storage.open(f"sqlite+aiosqlite:///{tmp_path}/b{len(stopping)}.db")
        stopping.append(storage.close)
        await upgrade(storage.database)
        bus = InProcessBus()
        ingestor = Ingestor(storage.ingest, bus, POLICY, clock)
        await ingestor.start()
        stopping.append(ingestor.stop)
        adapter = WebchatAdapter(
            WebchatSettings(**settings),
            ingest=ingestor,
            history=storage.conversations,
            visitors=storage.visitors,
            bus=bus,
            clock=clock,
        )
        dispatcher = Dispatcher(
            storage.outbox,
            {"webchat:default": adapter},
            bus,
            clock,
            owner="test",
            retry=RetryPolicy(initial=0.01),
        )
        await dispatcher.start()
        stopping.append(lambda: dispatcher.stop(timeout=2))
        app = web.Application()
        app.add_routes(adapter.routes())
        client = TestClient(TestServer(app))
        await client.start_server()
        stopping.append(client.close)
        await adapter.start()
        stack = Stack(
            storage,
            bus,
            clock,
            ConversationService(storage.conversations, bus, clock),
            ingestor,
            adapter,
            client,
        )

        async def close_sockets() -> None:
            for ws in stack.sockets:
                await ws.close()

        stopping.append(close_sockets)
        stopping.append(adapter.stop)
        return stack

    yield make
    for stop in reversed(stopping):
        await stop()


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


async def receive(ws: Socket) -> Frame:
    msg = await ws.receive(timeout=WAIT)
    assert msg.type is WSMsgType.TEXT, f"expected a text frame, got {msg}"
    frame: Frame = json.loads(msg.data)
    return frame


async def next_frame(ws: Socket, kind: str, seen: list[Frame] | None = None) -> Frame:
    """The next frame of ``kind``; frames of other kinds on the way are kept in ``seen``."""
    while True:
        frame = await receive(ws)
        if seen is not None:
            seen.append(frame)
        if frame["type"] == kind:
            return frame


async def send_message(ws: Socket, text: str, client_msg_id: str | None = None) -> None:
    frame: Frame = {"type": "message", "text": text}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    await ws.send_str(json.dumps(frame))


async def next_event(subscription: Subscription) -> Event:
    async with asyncio.timeout(WAIT):
        async for event in subscription:
            return event
    raise AssertionError("the subscription ended")


# --- sessions ----------------------------------------------------------------------------


async def test_a_session_is_created_with_the_given_fields(stack: Stack) -> None:
    body = await stack.session({"name": "Ana Lima", "email": "ana@example.com", "language": "pt"})
    assert body["token"].startswith("wcs_")
    assert body["visitor_id"].startswith("v_")
    assert body["expires_at"] == (stack.clock.now() + timedelta(days=30)).isoformat()
    visitor = await stack.storage.visitors.visitor_by_token_hash(
        hash_token(body["token"]), stack.clock.now()
    )
    assert visitor is not None
    assert visitor.thread == ThreadRef("webchat", "default", body["visitor_id"])
    assert (visitor.display_name, visitor.language) == ("Ana Lima", "pt")
    customer = await stack.storage.conversations.get_customer(visitor.customer_id)
    assert customer.email == "ana@example.com"
    assert all(not identity.verified for identity in customer.identities)


async def test_an_empty_session_takes_the_language_from_accept_language(stack: Stack) -> None:
    body = await stack.session(None, **{"Accept-Language": "de-CH, de;q=0.9, en;q=0.8"})
    visitor = await stack.storage.visitors.visitor_by_token_hash(
        hash_token(body["token"]), stack.clock.now()
    )
    assert visitor is not None
    assert (visitor.display_name, visitor.language) == ("Visitor", "de-CH")


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b'{"name": "Ana"', 400, "malformed_json"),
        (b'["Ana"]', 400, "invalid_input"),
        (b'{"email": "ana-at-example.com"}', 400, "invalid_input"),
        (json.dumps({"name": "x" * 101}).encode(), 400, "invalid_input"),
        (b"{}" + b" " * 20_000, 413, "too_large"),
    ],
)
async def test_a_bad_session_request_is_refused_with_json(
    stack: Stack, data: bytes, status: int, code: str
) -> None:
    response = await stack.client.post("/webchat/sessions", data=data)
    assert response.status == status
    body = await response.json()
    assert body["error"] == code
    assert body["message"]


async def test_any_origin_is_allowed_by_default(stack: Stack) -> None:
    response = await stack.client.post(
        "/webchat/sessions", data=b"", headers={"Origin": "https://anywhere.example"}
    )
    assert response.status == 201
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_cors_for_an_allowed_origin(make_stack: StackFactory) -> None:
    stack = await make_stack(allowed_origins=("https://shop.example",))
    origin = {"Origin": "https://shop.example"}
    preflight = await stack.client.options(
        "/webchat/sessions",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
    assert preflight.headers["Access-Control-Allow-Headers"] == "Content-Type"
    created = await stack.client.post("/webchat/sessions", data=b"{}", headers=origin)
    assert created.status == 201
    assert created.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    refused = await stack.client.post("/webchat/sessions", data=b"{", headers=origin)
    assert refused.status == 400
    assert refused.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    ws = await stack.connect((await created.json())["token"], **origin)
    assert (await next_frame(ws, "status"))["state"] == "new"


async def test_a_disallowed_origin_gets_403(make_stack: StackFactory) -> None:
    stack = await make_stack(allowed_origins=("https://shop.example",))
    evil = {"Origin": "https://evil.example"}
    for response in (
        await stack.client.options("/webchat/sessions", headers=evil),
        await stack.client.post("/webchat/sessions", data=b"{}", headers=evil),
    ):
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
    token = (await stack.session())["token"]  # no Origin: not a cross-site browser request
    with pytest.raises(WSServerHandshakeError) as caught:
        await stack.connect(token, **evil)
    assert caught.value.status == 403


# --- connecting --------------------------------------------------------------------------


async def test_an_unknown_token_gets_401_before_the_upgrade(stack: Stack) -> None:
    with pytest.raises(WSServerHandshakeError) as caught:
        await stack.connect("wcs_not-a-token")
    assert caught.value.status == 401
    response = await stack.client.get("/webchat/ws", params={"token": "wcs_nope"})
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"
    missing = await stack.client.get("/webchat/ws")
    assert missing.status == 401


async def test_an_expired_token_gets_401(stack: Stack) -> None:
    token = (await stack.session())["token"]
    stack.clock.advance(timedelta(days=30, seconds=1))
    with pytest.raises(WSServerHandshakeError) as caught:
        await stack.connect(token)
    assert caught.value.status == 401


async def test_connecting_slides_the_expiry(stack: Stack) -> None:
    token = (await stack.session())["token"]
    stack.clock.advance(timedelta(days=20))
    ws = await stack.connect(token)
    await next_frame(ws, "status")
    await ws.close()
    stack.clock.advance(timedelta(days=20))  # 40 days after creation, 20 after the visit
    ws = await stack.connect(token)
    assert (await next_frame(ws, "status"))["state"] == "new"


async def test_more_than_max_connections_gets_503(make_stack: StackFactory) -> None:
    stack = await make_stack(max_connections=1)
    token, _ws, _ = await stack.visitor()
    with pytest.raises(WSServerHandshakeError) as caught:
        await stack.connect(token)
    assert caught.value.status == 503
    assert stack.adapter.state().detail == "1 connections"


async def test_a_plain_get_with_a_good_token_is_told_to_use_a_websocket(stack: Stack) -> None:
    token = (await stack.session())["token"]
    response = await stack.client.get("/webchat/ws", params={"token": token})
    assert response.status == 426


# --- messages ----------------------------------------------------------------------------


async def test_a_message_is_stored_and_echoed_with_its_ids(stack: Stack) -> None:
    token, ws, greeting = await stack.visitor()
    assert greeting == {"type": "status", "state": "new", "reference": None}
    await send_message(ws, "Where is my order?", "c-1")
    echo = await next_frame(ws, "message")
    assert echo["author"] == "customer"
    assert echo["author_name"] == "Visitor"
    assert echo["text"] == "Where is my order?"
    assert echo["client_msg_id"] == "c-1"
    visitor = await stack.storage.visitors.visitor_by_token_hash(
        hash_token(token), stack.clock.now()
    )
    assert visitor is not None
    conversation = await stack.conversation(visitor.thread.thread_key)
    [stored] = await stack.customer_messages(conversation.id)
    assert stored.id == echo["id"]
    assert stored.text == "Where is my order?"
    assert stored.external_id == f"{visitor.thread.thread_key}:c-1"


async def test_a_resend_is_stored_once_and_acked_again(stack: Stack) -> None:
    token = (await stack.session())["token"]
    ws = await stack.connect(token)
    await send_message(ws, "hello", "same")
    first = await next_frame(ws, "message")
    await send_message(ws, "hello", "same")
    again = await next_frame(ws, "message")
    assert again["id"] == first["id"]
    assert again["client_msg_id"] == "same"
    messages = await stack.storage.conversations.messages(await stack.conversation_id())
    assert [m.id for m in messages] == [first["id"]]


async def test_every_tab_of_a_visitor_sees_its_messages(stack: Stack) -> None:
    token = (await stack.session())["token"]
    tab1 = await stack.connect(token)
    tab2 = await stack.connect(token)
    await send_message(tab1, "from tab one", "t1")
    mine = await next_frame(tab1, "message")
    theirs = await next_frame(tab2, "message")
    assert theirs == mine
    # A resend from tab one is acked to tab one only: tab two's next message is a new one.
    await send_message(tab1, "from tab one", "t1")
    assert (await next_frame(tab1, "message"))["id"] == mine["id"]
    await send_message(tab2, "from tab two", "t2")
    assert (await next_frame(tab2, "message"))["text"] == "from tab two"
    assert (await next_frame(tab1, "message"))["text"] == "from tab two"
    _, other, _ = await stack.visitor()
    await send_message(other, "another visitor", "o1")
    await next_frame(other, "message")
    await send_message(tab1, "still mine", "t3")
    assert (await next_frame(tab2, "message"))["text"] == "still mine"


async def test_an_agent_reply_reaches_the_open_socket(stack: Stack) -> None:
    _, ws, _ = await stack.visitor()
    await send_message(ws, "help", "c-1")
    echo = await next_frame(ws, "message")
    conversation_id = await stack.conversation_id()
    sent = stack.bus.subscribe(frozenset({"delivery.sent"}))
    posted = await stack.service.reply(
        conversation_id, await stack.agent(), "Hi, Bea here", internal=False
    )
    reply = await next_frame(ws, "message")
    assert reply["id"] == posted.message.id > echo["id"]
    assert (reply["author"], reply["author_name"], reply["text"]) == (
        "agent",
        "Bea",
        "Hi, Bea here",
    )
    assert "client_msg_id" not in reply
    event = await next_event(sent)
    assert isinstance(event, DeliverySent)
    assert event.external_id == f"webchat:{posted.message.id}"
    await sent.close()


async def test_a_reconnecting_tab_catches_up_in_order(stack: Stack) -> None:
    token = (await stack.session())["token"]
    ws = await stack.connect(token)
    await send_message(ws, "first", "c-1")
    last_seen = (await next_frame(ws, "message"))["id"]
    await ws.close()
    conversation_id = await stack.conversation_id()
    agent = await stack.agent()
    sent = stack.bus.subscribe(frozenset({"delivery.sent"}))
    one = await stack.service.reply(conversation_id, agent, "reply one", internal=False)
    two = await stack.service.reply(conversation_id, agent, "reply two", internal=False)
    # Both were "sent" to no socket; the receipts do not depend on one being open.
    await next_event(sent)
    await next_event(sent)
    await sent.close()

    ws = await stack.connect(token)
    await ws.send_str(json.dumps({"type": "resume", "after_id": last_seen}))
    seen: list[Frame] = []
    resumed = await next_frame(ws, "resumed", seen)
    messages = [f for f in seen if f["type"] == "message"]
    assert [(m["id"], m["text"]) for m in messages] == [
        (one.message.id, "reply one"),
        (two.message.id, "reply two"),
    ]
    assert resumed == {"type": "resumed", "last_id": two.message.id, "more": False}


async def test_resume_pages_by_resume_limit(make_stack: StackFactory) -> None:
    stack = await make_stack(resume_limit=2)
    _, ws, _ = await stack.visitor()
    ids = []
    for n in range(3):
        await send_message(ws, f"m{n}", f"c-{n}")
        ids.append((await next_frame(ws, "message"))["id"])
    await ws.send_str(json.dumps({"type": "resume", "after_id": 0}))
    seen: list[Frame] = []
    assert await next_frame(ws, "resumed", seen) == {
        "type": "resumed",
        "last_id": ids[1],
        "more": True,
    }
    assert [f["id"] for f in seen if f["type"] == "message"] == ids[:2]
    await ws.send_str(json.dumps({"type": "resume", "after_id": ids[1]}))
    seen.clear()
    assert (await next_frame(ws, "resumed", seen))["more"] is False
    assert [f["id"] for f in seen if f["type"] == "message"] == ids[2:]


async def test_an_internal_note_never_produces_a_frame(stack: Stack) -> None:
    note_text = "NOTE: refund fraud suspected"
    _, ws, _ = await stack.visitor()
    await send_message(ws, "my refund?", "c-1")
    await next_frame(ws, "message")
    conversation_id = await stack.conversation_id()
    agent = await stack.agent()
    await stack.service.reply(conversation_id, agent, note_text, internal=True)
    public = await stack.service.reply(
        conversation_id, agent, "Refund is on its way", internal=False
    )

    seen: list[Frame] = []
    live = await next_frame(ws, "message", seen)
    assert live["id"] == public.message.id
    assert live["text"] == "Refund is on its way"

    await ws.send_str(json.dumps({"type": "resume", "after_id": 0}))
    await next_frame(ws, "resumed", seen)
    resent = [f["text"] for f in seen if f["type"] == "message"]
    assert resent[-2:] == ["my refund?", "Refund is on its way"]
    assert all(note_text not in json.dumps(f) for f in seen)


# --- bad frames --------------------------------------------------------------------------


async def test_bad_frames_get_error_frames_and_the_socket_keeps_working(stack: Stack) -> None:
    _, ws, _ = await stack.visitor()
    await ws.send_str("this is not json")
    assert (await next_frame(ws, "error"))["reason"] == "malformed_frame"
    await ws.send_str(json.dumps({"type": "shout", "text": "hi"}))
    assert (await next_frame(ws, "error"))["reason"] == "unknown_type"
    await ws.send_bytes(b"\x00\x01")
    assert (await next_frame(ws, "error"))["reason"] == "binary_not_supported"
    await send_message(ws, "a" * (64 * 1024 + 1), "big")
    too_long = await next_frame(ws, "error")
    assert (too_long["reason"], too_long["client_msg_id"]) == ("text_too_long", "big")
    await send_message(ws, "   ", "blank")
    assert (await next_frame(ws, "error"))["reason"] == "invalid_input"
    await send_message(ws, "still here", "ok")
    echo = await next_frame(ws, "message")
    assert (echo["text"], echo["client_msg_id"]) == ("still here", "ok")
    assert await stack.texts() == ["still here"]


async def test_a_stopped_pipeline_answers_unavailable(stack: Stack) -> None:
    _, ws, _ = await stack.visitor()
    await stack.ingestor.stop()
    await send_message(ws, "anyone?", "c-1")
    refused = await next_frame(ws, "error")
    assert (refused["reason"], refused["client_msg_id"]) == ("unavailable", "c-1")


async def test_a_database_failure_is_an_error_frame_and_logs_no_text(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    token, ws, _ = await stack.visitor()
    await stack.storage.database.run_write(
        lambda connection: connection.execute(text("DROP TABLE messages"))
    )
    with caplog.at_level(logging.INFO, logger="channels.webchat"):
        await send_message(ws, "my card number is 4111", "c-1")
        refused = await next_frame(ws, "error")
        assert (refused["reason"], refused["client_msg_id"]) == ("temporarily_unavailable", "c-1")
        await ws.send_str('{"type":"resume","after_id":0}')  # the socket still answers
        assert (await next_frame(ws, "error"))["reason"] == "temporarily_unavailable"
    ours = [r for r in caplog.records if r.name.startswith("channels.webchat")]
    visitor = await stack.storage.visitors.visitor_by_token_hash(
        hash_token(token), stack.clock.now()
    )
    assert visitor is not None
    assert any(visitor.thread.thread_key in r.getMessage() for r in ours)
    for record in ours:
        assert "4111" not in record.getMessage()
        assert token not in record.getMessage()


async def test_twenty_bad_frames_in_a_row_close_with_1008(stack: Stack) -> None:
    _, ws, _ = await stack.visitor()
    for _ in range(19):
        await ws.send_str("{")
    await send_message(ws, "a good frame resets the count", "ok")
    for _ in range(19):
        await ws.send_str("{")
    await ws.send_bytes(b"binary counts too")
    errors = 0
    while True:
        msg = await ws.receive(timeout=WAIT)
        if msg.type is not WSMsgType.TEXT:
            break
        frame = json.loads(msg.data)
        errors += frame["type"] == "error"
    assert msg.type is WSMsgType.CLOSE
    assert ws.close_code == 1008
    assert errors == 39


async def test_messages_over_the_rate_limit_are_refused_and_not_stored(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(rate_limit_per_minute=3)
    _, ws, _ = await stack.visitor()
    for n in range(3):
        await send_message(ws, f"m{n}", f"c-{n}")
        await next_frame(ws, "message")
    await send_message(ws, "one too many", "c-3")
    refused = await next_frame(ws, "error")
    assert refused["reason"] == "rate_limited"
    assert refused["client_msg_id"] == "c-3"
    assert refused["retry_after"] == 20  # 3 a minute: one every 20 s
    assert await stack.texts() == ["m0", "m1", "m2"]
    stack.clock.advance(20)
    await send_message(ws, "one too many", "c-3")
    assert (await next_frame(ws, "message"))["client_msg_id"] == "c-3"


async def test_rate_limit_zero_is_off(make_stack: StackFactory) -> None:
    stack = await make_stack(rate_limit_per_minute=0)
    _, ws, _ = await stack.visitor()
    for n in range(25):
        await send_message(ws, f"m{n}", f"c-{n}")
        assert (await next_frame(ws, "message"))["text"] == f"m{n}"


# --- status and typing -------------------------------------------------------------------


async def test_status_on_connect_and_when_resolved(stack: Stack) -> None:
    token, ws, greeting = await stack.visitor()
    assert greeting["state"] == "new"
    await send_message(ws, "help", "c-1")
    queued = await next_frame(ws, "status")
    conversation_id = await stack.conversation_id()
    assert queued == {"type": "status", "state": "queued", "reference": f"#{conversation_id}"}

    # A reply that leaves the state as it was pushes no status frame.
    await stack.service.reply(conversation_id, await stack.agent(), "done?", internal=False)
    seen: list[Frame] = []
    while (await next_frame(ws, "message", seen))["text"] != "done?":
        pass
    await stack.service.resolve(conversation_id)
    resolved = await next_frame(ws, "status", seen)
    assert resolved == {"type": "status", "state": "resolved", "reference": f"#{conversation_id}"}
    assert [f for f in seen if f["type"] == "status"] == [resolved]

    tab2 = await stack.connect(token)
    assert (await next_frame(tab2, "status"))["state"] == "resolved"


async def test_typing_is_published_at_most_every_two_seconds(stack: Stack) -> None:
    _, ws, _ = await stack.visitor()
    typing = stack.bus.subscribe(frozenset({"customer.typing"}))
    start = stack.clock.now()
    await ws.send_str('{"type":"typing"}')
    first = await next_event(typing)
    stack.clock.advance(1)
    await ws.send_str('{"type":"typing"}')  # too soon: not published
    # Frames are handled in order: once the resume is answered, the typing was handled.
    await ws.send_str('{"type":"resume","after_id":0}')
    await next_frame(ws, "resumed")
    stack.clock.advance(1.5)
    await ws.send_str('{"type":"typing"}')
    second = await next_event(typing)
    assert isinstance(first, CustomerTyping)
    assert isinstance(second, CustomerTyping)
    assert first.thread.channel == "webchat"
    assert (first.at, second.at) == (start, start + timedelta(seconds=2.5))
    await typing.close()


# --- sending and lifecycle ---------------------------------------------------------------


async def test_send_without_a_socket_still_returns_a_receipt(stack: Stack) -> None:
    message = Message(
        id=99,
        conversation_id=1,
        author=Author.AGENT,
        author_name="Bea Agent",
        visibility=Visibility.PUBLIC,
        text="later",
        created_at=stack.clock.now(),
    )
    out = OutboundMessage(
        delivery_id=1,
        idempotency_key="m99",
        destination=ThreadRef("webchat", "default", "v_gone"),
        message=public_view(message),
        attempt=1,
    )
    receipt = await stack.adapter.send(out)
    assert receipt.external_id == "webchat:99"


async def test_stop_closes_open_sockets_with_1001(stack: Stack) -> None:
    assert stack.adapter.state().health is Health.OK
    _, ws, _ = await stack.visitor()
    assert stack.adapter.state().detail == "1 connections"
    await stack.adapter.stop()
    msg = await ws.receive(timeout=WAIT)
    assert msg.type is WSMsgType.CLOSE
    assert ws.close_code == 1001
    assert msg.extra == "server shutting down"
    assert stack.adapter.state().health is Health.STOPPED
    await stack.adapter.stop()  # idempotent
    token = (await stack.session())["token"]
    with pytest.raises(WSServerHandshakeError) as caught:
        await stack.connect(token)
    assert caught.value.status == 503


def test_the_adapter_declares_what_it_is() -> None:
    adapter = WebchatAdapter(
        WebchatSettings(account="shop"),
        ingest=None,  # type: ignore[arg-type]
        history=None,  # type: ignore[arg-type]
        visitors=None,  # type: ignore[arg-type]
        bus=None,  # type: ignore[arg-type]
        clock=ManualClock(),
    )
    assert (adapter.channel, adapter.account) == ("webchat", "shop")
    assert adapter.capabilities.typing
    assert adapter.capabilities.max_text_length is None
    assert adapter.state().health is Health.STOPPED
    paths = sorted((r.method, r.path) for r in adapter.routes())
    assert paths == [
        ("GET", "/webchat/ws"),
        ("OPTIONS", "/webchat/sessions"),
        ("POST", "/webchat/sessions"),
    ]
