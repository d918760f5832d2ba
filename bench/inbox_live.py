"""Live update latency: a web chat visitor's message to the agent's page.

``bridge serve`` runs as a separate process. An agent signs in through ``/login`` and opens
``GET /api/events`` with the session cookie, exactly as the inbox's EventSource does (plus
``--agents - 1`` more such streams, other agents' pages); visitors send messages over the web
chat websocket at ``--rate`` per second. Latency is from the websocket send to the
``message.added`` event carrying that message's text on the agent's stream.

    .venv/bin/python bench/inbox_live.py [--messages 500] [--rate 20] [--agents 5] [--visitors 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, new_session, percentiles, run

PASSWORD = "bench password 123"
expected = 0  # messages the run sends (set in main)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def sign_in(base: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(base + "/login") as response:
        token = _CSRF.search(await response.text())
    assert token
    async with http.post(
        base + "/login",
        data={"csrf": token.group(1), "email": "bench@example.com", "password": PASSWORD},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
    return http


async def follow(
    http: aiohttp.ClientSession,
    base: str,
    sent: dict[str, float],
    seen: dict[str, float],
    done: asyncio.Event | None = None,
) -> None:
    """Read the event stream as EventSource does: ``event:``/``data:`` lines, blank line ends."""
    async with http.get(base + "/api/events?kinds=message.added") as response:
        data = ""
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                data = line[6:]
            elif not line and data:
                text = json.loads(data)["message"]["text"]
                if text in sent and text not in seen:
                    seen[text] = time.perf_counter()
                    if done is not None and len(seen) == expected:
                        done.set()
                data = ""


async def visitors_write(
    base: str,
    args: argparse.Namespace,
    sent: dict[str, float],
    done: asyncio.Event,
    *,
    settle: float,
) -> None:
    """``args.visitors`` web chat visitors write ``args.messages`` messages at ``args.rate``
    per second (send times in ``sent``), then wait up to 30 s for ``done``."""
    async with aiohttp.ClientSession() as http:
        tokens = [await new_session(http, base, f"v{n}") for n in range(args.visitors)]
        sockets = [await http.ws_connect(f"{base}/webchat/ws?token={t}") for t in tokens]
        drains = [asyncio.create_task(_drain(ws)) for ws in sockets]
        await asyncio.sleep(settle)  # the streams are open and subscribed
        interval = 1.0 / args.rate
        start = time.perf_counter()
        for n in range(args.messages):
            delay = start + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            text = f"live bench message {n}"
            sent[text] = time.perf_counter()
            await sockets[n % len(sockets)].send_json(
                {"type": "message", "text": text, "client_msg_id": f"c{n}"}
            )
        try:
            async with asyncio.timeout(30):
                await done.wait()
        except TimeoutError:
            pass  # reported as fewer received
        for ws in sockets:
            await ws.close()
        for task in drains:
            task.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--visitors", type=int, default=20)
    args = parser.parse_args()
    global expected
    expected = args.messages
    with bridge_server(BRIDGE_ROUTING__ACKNOWLEDGEMENTS__ENABLED="false") as server:
        await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "bridge",
                "agent",
                "add",
                "Bench Agent",
                "--email",
                "bench@example.com",
                "--password-stdin",
            ],
            cwd=server.folder,
            env=server.env,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        base = server.base_url
        agents = [await sign_in(base) for _ in range(args.agents)]
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        others: list[dict[str, float]] = [{} for _ in agents[1:]]
        done = asyncio.Event()
        streams = [asyncio.create_task(follow(agents[0], base, sent, seen, done))]
        streams += [
            asyncio.create_task(follow(http, base, sent, other))
            for http, other in zip(agents[1:], others, strict=True)
        ]
        await visitors_write(base, args, sent, done, settle=0.5)
        for task in streams:
            task.cancel()
        for http in agents:
            await http.close()
    latencies = [seen[t] - sent[t] for t in seen]
    emit(
        {
            "benchmark": "inbox_live",
            "storage": "sqlite",
            "messages": args.messages,
            "rate_per_second": args.rate,
            "agent_streams": args.agents,
            "visitors": args.visitors,
            "received": len(seen),
            "received_by_other_agents": [len(o) for o in others],
            "latency_ms": percentiles(latencies),
            "target": "p99 under 250 ms",
            "machine": machine(),
        }
    )


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


if __name__ == "__main__":
    run(main)
