"""Ratings after resolve (the question on the customer's channel, the status page form, the
web chat's buttons), canned responses with variables and checklists, and the dashboard."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.model import Author, Role
from tests.harness import Running, running_bridge
from tests.web.inbox_support import add_signed_in, customer_writes, jar, sign_in

HOSTILE = "help <script>window.pwned=1</script><img src=x onerror=alert(1)>"


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(tmp_path, routing={"acknowledgements": {"enabled": False}}) as b:
        yield b


async def resolve(bridge: Running, conversation: int) -> None:
    async with bridge.http.post(
        bridge.url(f"/api/conversations/{conversation}/resolve"), headers=bridge.auth
    ) as response:
        assert response.status == 200
    await bridge.runtime.csat.settle()


async def test_resolving_asks_for_a_rating_once_with_a_status_page_link(bridge: Running) -> None:
    conversation = await customer_writes(bridge, "v1", "thanks")
    await resolve(bridge, conversation)
    await resolve(bridge, conversation)  # resolving again asks nothing more
    history = await bridge.runtime.storage.conversations.messages(conversation)
    asked = [m for m in history if m.author is Author.BOT]
    assert len(asked) == 1
    assert asked[0].is_public
    found = re.search(r"(/status/[\w-]+)#rate", asked[0].text)
    assert found, asked[0].text
    path = found.group(1)
    async with jar() as http:
        async with http.get(bridge.url(path)) as response:
            page = await response.text()
        assert "How did we do?" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        async with http.post(bridge.url(path + "/rate"), data={"rating": "4"}) as response:
            assert response.status == 403  # no CSRF token
        async with http.post(
            bridge.url(path + "/rate"),
            data={"csrf": csrf.group(1), "rating": "4", "comment": "quick <b>fix</b>"},
            allow_redirects=False,
        ) as response:
            assert response.status == 303
        async with http.get(bridge.url(path)) as response:
            page = await response.text()
        assert "You rated this conversation 4 out of 5" in page
    rating = await bridge.runtime.storage.feedback.rating_of(conversation)
    assert rating is not None
    assert (rating.rating, rating.comment) == (4, "quick <b>fix</b>")
    # Shown to agents: in the conversation and the API.
    browser = await sign_in(bridge)
    try:
        _status, page = await browser.page(f"/inbox?c={conversation}")
        assert "Customer rated &#9733; 4/5" in page
        assert "quick &lt;b&gt;fix&lt;/b&gt;" in page
        async with browser.http.get(
            browser.url(f"/api/conversations/{conversation}/rating")
        ) as response:
            assert (await response.json())["rating"] == 4
    finally:
        await browser.close()


async def test_the_web_chat_rates_with_its_buttons(bridge: Running) -> None:
    async with bridge.http.post(bridge.url("/webchat/sessions"), json={"name": "Ana"}) as r:
        session = await r.json()
    async with bridge.http.ws_connect(bridge.url(f"/webchat/ws?token={session['token']}")) as ws:
        await ws.send_json({"type": "message", "text": "hello", "client_msg_id": "c1"})
        async with asyncio.timeout(5):
            while (await ws.receive_json())["type"] != "message":
                pass
        await ws.send_json({"type": "csat", "rating": 5})  # not resolved yet: refused
        async with asyncio.timeout(5):
            frame = await ws.receive_json()
            while frame["type"] != "error":
                frame = await ws.receive_json()
        assert frame["reason"] == "not_rateable"
        async with bridge.http.get(bridge.url("/api/conversations"), headers=bridge.auth) as r:
            conversation = (await r.json())["items"][0]["id"]
        await resolve(bridge, conversation)
        async with asyncio.timeout(5):
            frame = await ws.receive_json()
            while not (frame["type"] == "status" and frame.get("csat")):
                frame = await ws.receive_json()
        assert frame["state"] == "resolved"
        await ws.send_json({"type": "csat", "rating": 0})
        async with asyncio.timeout(5):
            frame = await ws.receive_json()
            while frame["type"] != "error":
                frame = await ws.receive_json()
        assert frame["reason"] == "invalid_input"
        await ws.send_json({"type": "csat", "rating": 5, "comment": "great"})
        async with asyncio.timeout(5):
            frame = await ws.receive_json()
            while frame["type"] != "csat":
                frame = await ws.receive_json()
        assert frame == {
            "type": "csat",
            "state": "recorded",
            "reference": f"#{conversation}",
            "rating": 5,
        }
    rating = await bridge.runtime.storage.feedback.rating_of(conversation)
    assert rating is not None
    assert (rating.rating, rating.comment) == (5, "great")


async def test_canned_responses_with_variables_and_checklists(bridge: Running) -> None:
    conversation = await customer_writes(bridge, "v1", "refund please", name="Ana Lima")
    agent = await sign_in(bridge)
    supervisor = await add_signed_in(bridge, "Sam Boss", "sam@example.com", Role.SUPERVISOR)
    try:
        body = {
            "name": "Refund details",
            "body": "Hi {customer_name}, {agent_name} here about {reference}. Please send:",
            "checklist": ["Order number", "Date of purchase", "A photo of the item"],
        }
        headers = {"X-CSRF-Token": agent.csrf}
        async with agent.http.post(agent.url("/api/templates"), json=body, headers=headers) as r:
            assert r.status == 403  # agents use templates; supervisors write them
        headers = {"X-CSRF-Token": supervisor.csrf}
        async with supervisor.http.post(
            supervisor.url("/api/templates"), json=body, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            created = await response.json()
        bad = {**body, "name": "typo", "body": "Hi {customer}"}
        async with supervisor.http.post(
            supervisor.url("/api/templates"), json=bad, headers=headers
        ) as response:
            assert response.status == 400
            assert "unknown variable {customer}" in (await response.json())["message"]
        async with supervisor.http.post(
            supervisor.url("/api/templates"), json=body, headers=headers
        ) as response:
            assert response.status == 409
        async with agent.http.get(agent.url("/api/templates")) as response:
            listed = (await response.json())["items"]
        assert [t["name"] for t in listed] == ["Refund details"]
        async with agent.http.post(
            agent.url(f"/api/templates/{created['id']}/render"),
            json={"conversation_id": conversation, "items": ["Order number", "Date of purchase"]},
            headers={"X-CSRF-Token": agent.csrf},
        ) as response:
            text = (await response.json())["text"]
        assert text == (
            f"Hi Ana Lima, Bea here about #{conversation}. Please send:\n\n"
            "1. Order number\n2. Date of purchase"
        )
        _status, page = await agent.page(f"/inbox?c={conversation}")
        assert f"Hi Ana Lima, Bea here about #{conversation}. Please send:" in page
        assert "Order number" in page  # the checklist, for the composer's checkboxes
    finally:
        await agent.close()
        await supervisor.close()


async def test_the_dashboard_figures_and_chart(bridge: Running) -> None:
    first = await customer_writes(bridge, "v1", HOSTILE, name="<i>Ana</i>")
    await customer_writes(bridge, "v2", "second")
    await resolve(bridge, first)
    await bridge.runtime.storage.feedback.rate(first, 5, None, bridge.runtime.clock.now())
    supervisor = await add_signed_in(bridge, "Sam Boss", "sam@example.com", Role.SUPERVISOR)
    try:
        async with supervisor.http.get(supervisor.url("/api/supervisor")) as response:
            report = await response.json()
        assert report["queue_length"] == 1
        assert report["by_channel"] == [{"channel": "webchat", "length": 1}]
        assert report["by_tier"] == [{"tier": 1, "length": 1}]
        assert report["csat_today"]["count"] == 1
        assert report["csat_today"]["average"] == 5
        assert {a["name"] for a in report["agents"]} >= {"Bea Santos", "Sam Boss"}
        assert "first_response_p50" in report
        assert "promises_kept_percent" in report
        status, page = await supervisor.page("/supervisor")
        assert status == 200
        assert "<script>window.pwned" not in page
        assert "<i>Ana</i>" not in page
        async with supervisor.http.get(supervisor.url("/supervisor/chart.svg")) as response:
            svg = await response.text()
        assert svg.startswith("<svg")
        assert "Customers waiting for an agent" in svg
        assert "<polyline" in svg
    finally:
        await supervisor.close()
