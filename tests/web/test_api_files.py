"""Attachments, edits and withdrawals through the agent API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness import Running, running_bridge
from tests.web.test_api import customer_writes


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_bridge(
        tmp_path,
        routing={"acknowledgements": {"enabled": False}},
        storage={"max_file_bytes": 100_000},
    ) as running:
        yield running


async def upload(bridge: Running, data: bytes, name: str) -> dict:  # type: ignore[type-arg]
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/pdf")
    async with bridge.http.post(bridge.url("/api/files"), data=form, headers=bridge.auth) as r:
        assert r.status == 201, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def test_an_uploaded_file_is_attached_to_a_reply_and_downloadable(bridge: Running) -> None:
    conversation = await customer_writes(bridge)
    stored = await upload(bridge, b"%PDF-1.4 invoice", "invoice.pdf")
    assert stored["size"] == 16
    body = {"text": "your invoice", "internal": False, "attachments": [stored]}
    url = bridge.url(f"/api/conversations/{conversation}/messages")
    async with bridge.http.post(url, json=body, headers=bridge.auth) as response:
        assert response.status == 201
        message = (await response.json())["message"]
    [attached] = message["attachments"]
    assert attached["name"] == "invoice.pdf"
    assert attached["size"] == 16
    async with bridge.http.get(bridge.url(attached["url"]), headers=bridge.auth) as response:
        assert response.status == 200
        assert await response.read() == b"%PDF-1.4 invoice"
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with bridge.http.get(bridge.url(attached["url"])) as response:
        assert response.status == 401  # files are for agents


async def test_raw_uploads_and_bad_files_get_clear_errors(bridge: Running) -> None:
    async with bridge.http.post(
        bridge.url("/api/files?name=notes.txt"), data=b"plain", headers=bridge.auth
    ) as response:
        assert response.status == 201
        assert (await response.json())["content_type"] == "text/plain"
    async with bridge.http.post(
        bridge.url("/api/files?name=big.bin"), data=b"x" * 100_001, headers=bridge.auth
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "file_too_large"
    async with bridge.http.post(
        bridge.url("/api/files"), data=b"x", headers=bridge.auth
    ) as response:
        assert response.status == 400
    conversation = await customer_writes(bridge)
    body = {"text": "x", "internal": False, "attachments": [{"key": "0" * 64}]}
    url = bridge.url(f"/api/conversations/{conversation}/messages")
    async with bridge.http.post(url, json=body, headers=bridge.auth) as response:
        assert response.status == 400
        assert "no uploaded file" in (await response.json())["message"]
    async with bridge.http.get(bridge.url("/api/files/..%2Fbridge.db"), headers=bridge.auth) as r:
        assert r.status == 404


async def test_edit_and_withdraw_through_the_api(bridge: Running) -> None:
    conversation = await customer_writes(bridge)
    url = bridge.url(f"/api/conversations/{conversation}/messages")
    async with bridge.http.post(
        url, json={"text": "note v1", "internal": True}, headers=bridge.auth
    ) as response:
        note = (await response.json())["message"]
    async with bridge.http.patch(
        bridge.url(f"/api/conversations/{conversation}/messages/{note['id']}"),
        json={"text": "note v2"},
        headers=bridge.auth,
    ) as response:
        assert response.status == 200
        edited = await response.json()
    assert edited["text"] == "note v2"
    assert edited["edits"][0]["previous_text"] == "note v1"
    assert edited["visibility"] == "internal"
    async with bridge.http.patch(
        bridge.url(f"/api/conversations/{conversation + 1}/messages/{note['id']}"),
        json={"text": "x"},
        headers=bridge.auth,
    ) as response:
        assert response.status == 404
    sent = bridge.runtime.bus.subscribe(frozenset({"delivery.sent"}))
    async with bridge.http.post(
        url, json={"text": "sent at once", "internal": False}, headers=bridge.auth
    ) as response:
        reply = (await response.json())["message"]
    await asyncio.wait_for(anext(aiter(sent)), 5)
    retract = bridge.url(f"/api/conversations/{conversation}/messages/{reply['id']}/retract")
    async with bridge.http.post(retract, headers=bridge.auth) as response:
        assert response.status == 409
        assert "too late" in (await response.json())["message"]


async def test_findings_of_the_api_fuzzing_stay_fixed(bridge: Running) -> None:
    """Each once answered 500 (tests/web/test_openapi.py found them)."""
    huge = "9" * 30
    for method, path in (
        ("GET", f"/api/conversations/{huge}"),
        ("POST", f"/api/conversations/{huge}/resolve"),
        ("PATCH", f"/api/conversations/1/messages/{huge}"),
        ("GET", "/api/conversations/-9223372036854775809"),
    ):
        async with bridge.http.request(
            method, bridge.url(path), json={"text": "x"}, headers=bridge.auth
        ) as response:
            assert response.status == 400, path
    async with bridge.http.post(
        bridge.url("/api/conversations/424242/read"), json={"message_id": 1}, headers=bridge.auth
    ) as response:
        assert response.status == 404
    async with bridge.http.post(
        bridge.url("/api/files"),
        data=b"--x\r\n",
        headers={**bridge.auth, "Content-Type": "multipart/form-data"},
    ) as response:
        assert response.status == 400
