"""Logs carry ids, never message bodies or tokens, at INFO and above."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.harness import running_bridge

BODY = "my card number is 4111-1111-1111-1111"
REPLY = "we never store card numbers, please delete it"
NOTE = "possible fraud, check account 991"


async def test_a_whole_conversation_leaves_no_body_or_token_in_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_bridge(tmp_path) as bridge:
        async with bridge.http.post(bridge.url("/webchat/sessions"), json={"name": "Ana"}) as r:
            session = await r.json()
        async with bridge.http.ws_connect(
            bridge.url(f"/webchat/ws?token={session['token']}")
        ) as ws:
            await ws.send_json({"type": "message", "text": BODY, "client_msg_id": "c1"})
            async with asyncio.timeout(5):
                while (await ws.receive_json())["type"] != "message":
                    pass
            async with bridge.http.get(bridge.url("/api/conversations"), headers=bridge.auth) as r:
                conversation = (await r.json())["items"][0]["id"]
            for text, internal in ((NOTE, True), (REPLY, False)):
                async with bridge.http.post(
                    bridge.url(f"/api/conversations/{conversation}/messages"),
                    json={"text": text, "internal": internal},
                    headers=bridge.auth,
                ) as r:
                    assert r.status == 201
            async with asyncio.timeout(5):
                while (await ws.receive_json()).get("text") != REPLY:
                    pass
            # A bad frame and a bad token are logged too; still without contents.
            await ws.send_str('{"type": "message", "text": ' + '"x' * 10 + "}")
            await ws.receive_json()
        async with bridge.http.get(bridge.url("/webchat/ws?token=wcs_guess")) as r:
            assert r.status == 401
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.levelno >= logging.INFO
    )
    assert "message" in logged  # the logs did capture the conversation's events
    for secret in (BODY, REPLY, NOTE, session["token"], bridge.token, "wcs_guess"):
        assert secret not in logged
