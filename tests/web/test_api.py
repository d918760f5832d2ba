"""The agent API over real HTTP, on the bridge built by the composition root."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.clock import SystemClock
from bridge.events import DeliverySent
from bridge.model import ThreadRef
from tests.factories import inbound
from tests.harness import Running, running_bridge


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    # Acknowledgements are the router's (tests/routing); here they would only add messages.
    async with running_bridge(
        tmp_path, routing={"acknowledgements": {"enabled": False}}
    ) as running:
        yield running


async def customer_writes(bridge: Running, visitor: str = "v1", text: str = "help!") -> int:
    thread = ThreadRef("webchat", "default", visitor)
    result = await bridge.runtime.ingestor.ingest(
        inbound(f"{visitor}:{text}", at=SystemClock().now(), thread=thread, text=text)
    )
    return result.conversation.id


async def test_requests_without_a_valid_token_are_refused(bridge: Running) -> None:
    async with bridge.http.get(bridge.url("/api/conversations")) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await response.json())["error"] == "unauthorized"
    headers = {"Authorization": "Bearer brg_not-a-real-token"}
    async with bridge.http.get(bridge.url("/api/conversations"), headers=headers) as response:
        assert response.status == 401
    async with bridge.http.get(bridge.url("/api/agents/me"), headers=bridge.auth) as response:
        assert response.status == 200
        assert (await response.json())["email"] == "bea@example.com"


async def test_list_and_read_conversations(bridge: Running) -> None:
    first = await customer_writes(bridge, "v1")
    second = await customer_writes(bridge, "v2")
    async with bridge.http.get(
        bridge.url("/api/conversations?limit=1"), headers=bridge.auth
    ) as response:
        page = await response.json()
    assert [c["id"] for c in page["items"]] == [second]
    async with bridge.http.get(
        bridge.url(f"/api/conversations?limit=5&before={page['next_before']}"), headers=bridge.auth
    ) as response:
        rest = await response.json()
    assert [c["id"] for c in rest["items"]] == [first]
    assert rest["next_before"] is None
    async with bridge.http.get(bridge.url(f"/api/conversations/{first}"), headers=bridge.auth) as r:
        body = await r.json()
    assert body["reference"] == f"#{first}"
    assert body["status"] == "queued"
    assert body["channel"] == "webchat"
    assert body["customer"]["identities"][0]["channel"] == "webchat"
    assert [(m["author"], m["visibility"], m["text"]) for m in body["messages"]] == [
        ("customer", "public", "help!")
    ]


async def test_replies_and_notes_are_marked_and_only_replies_are_delivered(bridge: Running) -> None:
    conversation = await customer_writes(bridge)
    url = bridge.url(f"/api/conversations/{conversation}/messages")
    async with bridge.http.post(
        url, json={"text": "customer is VIP", "internal": True}, headers=bridge.auth
    ) as response:
        assert response.status == 201
        note = await response.json()
    assert note["message"]["visibility"] == "internal"
    assert note["deliveries"] == []
    sent = bridge.runtime.bus.subscribe(frozenset({"delivery.sent"}))
    async with bridge.http.post(
        url, json={"text": "Hello, how can I help?", "internal": False}, headers=bridge.auth
    ) as response:
        assert response.status == 201
        reply = await response.json()
    assert reply["message"]["visibility"] == "public"
    assert [d["channel"] for d in reply["deliveries"]] == ["webchat"]
    assert reply["conversation"]["first_response_at"] is not None
    event = await asyncio.wait_for(anext(aiter(sent)), 5)
    assert isinstance(event, DeliverySent)
    assert event.message_id == reply["message"]["id"]
    async with bridge.http.get(
        bridge.url(f"/api/conversations/{conversation}"), headers=bridge.auth
    ) as response:
        body = await response.json()
    by_text = {m["text"]: m for m in body["messages"]}
    assert by_text["Hello, how can I help?"]["delivery"]["state"] == "sent"
    assert by_text["customer is VIP"]["visibility"] == "internal"
    assert "delivery" not in by_text["customer is VIP"]


async def test_an_idempotency_key_makes_a_retried_post_harmless(bridge: Running) -> None:
    conversation = await customer_writes(bridge)
    url = bridge.url(f"/api/conversations/{conversation}/messages")
    headers = {**bridge.auth, "Idempotency-Key": "retry-1"}
    async with bridge.http.post(
        url, json={"text": "once", "internal": False}, headers=headers
    ) as r:
        assert r.status == 201
        first = await r.json()
    async with bridge.http.post(
        url, json={"text": "once", "internal": False}, headers=headers
    ) as r:
        assert r.status == 200
        again = await r.json()
    assert again["message"]["id"] == first["message"]["id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"[1, 2]", 400, "invalid_input"),
        (json.dumps({"text": "hi"}).encode(), 400, "invalid_input"),
        (json.dumps({"text": "hi", "internal": "no"}).encode(), 400, "invalid_input"),
        (json.dumps({"text": 5, "internal": False}).encode(), 400, "invalid_input"),
        (json.dumps({"text": "   ", "internal": False}).encode(), 400, "invalid_input"),
        (json.dumps({"text": "x" * 70_000, "internal": False}).encode(), 413, "text_too_long"),
        (b"x" * 2_000_000, 413, "request_entity_too_large"),
    ],
)
async def test_bad_message_bodies_get_clear_errors(
    bridge: Running, body: bytes, status: int, code: str
) -> None:
    conversation = await customer_writes(bridge)
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/messages"),
        data=io.BytesIO(body),
        headers={**bridge.auth, "Content-Type": "application/json"},
    ) as response:
        assert response.status == status
        error = await response.json()
    assert error["error"] == code
    assert error["message"]
    # Nothing was stored by a refused request.
    async with bridge.http.get(
        bridge.url(f"/api/conversations/{conversation}"), headers=bridge.auth
    ) as response:
        assert len((await response.json())["messages"]) == 1


async def test_unknown_and_malformed_conversation_ids(bridge: Running) -> None:
    async with bridge.http.get(bridge.url("/api/conversations/999"), headers=bridge.auth) as r:
        assert r.status == 404
        assert (await r.json())["error"] == "not_found"
    async with bridge.http.get(bridge.url("/api/conversations/abc"), headers=bridge.auth) as r:
        assert r.status == 400
    async with bridge.http.get(
        bridge.url("/api/conversations?status=sleeping"), headers=bridge.auth
    ) as r:
        assert r.status == 400
        assert "status must be one of" in (await r.json())["message"]
    async with bridge.http.get(bridge.url("/api/nowhere"), headers=bridge.auth) as r:
        assert r.status == 404
        assert (await r.json())["error"] == "not_found"


async def test_resolve_is_idempotent(bridge: Running) -> None:
    conversation = await customer_writes(bridge)
    url = bridge.url(f"/api/conversations/{conversation}/resolve")
    async with bridge.http.post(url, headers=bridge.auth) as response:
        first = await response.json()
    async with bridge.http.post(url, headers=bridge.auth) as response:
        again = await response.json()
    assert first["status"] == again["status"] == "resolved"
    assert first["resolved_at"] == again["resolved_at"]


async def test_events_stream_as_server_sent_events(bridge: Running) -> None:
    conversation = await customer_writes(bridge)
    async with bridge.http.get(
        bridge.url("/api/events?kinds=message.added"), headers=bridge.auth
    ) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert await stream.content.readline() == b": connected\n"
        await stream.content.readline()
        async with bridge.http.post(
            bridge.url(f"/api/conversations/{conversation}/messages"),
            json={"text": "note for the team", "internal": True},
            headers=bridge.auth,
        ):
            pass
        lines = []
        async with asyncio.timeout(5):
            while len(lines) < 3:
                lines.append((await stream.content.readline()).decode().rstrip("\n"))
    assert lines[1] == "event: message.added"
    payload = json.loads(lines[2].removeprefix("data: "))
    assert payload["message"]["visibility"] == "internal"
    assert payload["conversation"]["id"] == conversation


async def test_health_and_readiness(bridge: Running) -> None:
    async with bridge.http.get(bridge.url("/healthz")) as response:
        assert response.status == 200
    async with bridge.http.get(bridge.url("/readyz")) as response:
        assert response.status == 200
        body = await response.json()
    assert body["ready"] is True
    assert set(body["components"]) == {
        "storage",
        "bus",
        "ingest",
        "outbox",
        "router",
        "channel:webchat:default",
    }
    assert body["components"]["storage"] == {"health": "ok", "detail": "sqlite"}
    bridge.runtime.channel_errors["webchat:default"] = "the widget exploded"
    async with bridge.http.get(bridge.url("/readyz")) as response:
        assert response.status == 503
        body = await response.json()
    assert body["components"]["channel:webchat:default"] == {
        "health": "down",
        "detail": "the widget exploded",
    }


async def test_security_headers(bridge: Running) -> None:
    async with bridge.http.get(bridge.url("/")) as response:
        assert response.status == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with bridge.http.get(bridge.url("/api/conversations"), headers=bridge.auth) as response:
        assert response.headers["Cache-Control"] == "no-store"
