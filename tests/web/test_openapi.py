"""The agent API against its own OpenAPI document, with schemathesis.

Every operation is called with generated input (valid and invalid) on a real `bridge serve`
process; none may answer 5xx, a status the document does not declare, or a body that does not
fit it. A finding becomes a fix and stays covered here.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from web.openapi import DOCUMENT

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.common import Server, bridge_server  # noqa: E402 - bench is beside the tests

schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def bridge() -> Iterator[tuple[Server, dict[str, str]]]:
    with bridge_server(BRIDGE_WEB__CSAT_ENABLED="false") as server:
        token = server.cli(
            "agent", "add", "Sam Super", "--email", "sam@example.com", "--role", "supervisor"
        )
        headers = {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}
        asyncio.run(_customers_write(server))
        yield server, headers


async def _customers_write(server: Server) -> None:
    """A few conversations and messages, so generated ids hit real rows too."""
    async with aiohttp.ClientSession() as http:
        for visitor in range(3):
            async with http.post(f"{server.base_url}/webchat/sessions", json={}) as response:
                token = (await response.json())["token"]
            ws = await http.ws_connect(f"{server.base_url}/webchat/ws?token={token}")
            await ws.send_str(json.dumps({"type": "message", "text": f"hi {visitor}"}))
            while (await ws.receive_json())["type"] != "message":
                pass
            await ws.close()


def test_the_document_is_served_without_a_token(bridge: tuple[Server, dict[str, str]]) -> None:
    server, _ = bridge
    fetch = (
        "import json, sys, urllib.request; "
        "print(json.load(urllib.request.urlopen(sys.argv[1]))['openapi'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", fetch, f"{server.base_url}/api/openapi.json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "3.1.0"


@schema.parametrize()
@settings(
    # More in a fuzzing session: BRIDGE_FUZZ_EXAMPLES=500 make unit
    max_examples=int(os.environ.get("BRIDGE_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_its_document(
    case: schemathesis.Case, bridge: tuple[Server, dict[str, str]]
) -> None:
    server, headers = bridge
    case.call_and_validate(
        base_url=server.base_url,
        headers=headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
