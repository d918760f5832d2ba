"""Memory per idle web chat connection on one bridge process.

Opens N visitor websockets (default 10,000) from this process to a `bridge serve` in another,
leaves them idle, and reads the server's resident memory (/proc/<pid>/status VmRSS) before
and after. Target: at most 30 KB per connection.

    .venv/bin/python bench/webchat_idle.py [--connections 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bridge_server, emit, machine, new_session, run

TARGET_KB = 30.0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def settle(pid: int, seconds: float = 3.0) -> int:
    await asyncio.sleep(seconds)
    return rss_kb(pid)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    args = parser.parse_args()
    count = args.connections
    with bridge_server(
        BRIDGE_CHANNELS__WEBCHAT__MAX_CONNECTIONS=str(count + 100),
        BRIDGE_ROUTING__ACKNOWLEDGEMENTS__ENABLED="false",
    ) as server:
        pid = server.process.pid
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            # Sessions first (rows and tokens), so the measured growth is the sockets'.
            tokens: list[str] = []
            for start in range(0, count, 200):
                batch = range(start, min(count, start + 200))
                tokens += await asyncio.gather(
                    *(new_session(http, server.base_url, f"v{i}") for i in batch)
                )
            # One warm-up round trip per code path before the baseline.
            warm = await http.ws_connect(f"{server.base_url}/webchat/ws?token={tokens[0]}")
            await warm.receive()
            await warm.close()
            gc.collect()
            before = await settle(pid)
            started = time.perf_counter()
            sockets: list[aiohttp.ClientWebSocketResponse] = []
            for start in range(0, count, 250):
                batch = tokens[start : start + 250]
                opened = await asyncio.gather(
                    *(http.ws_connect(f"{server.base_url}/webchat/ws?token={t}") for t in batch)
                )
                # Each socket is greeted with a status frame: read it, so it is fully open.
                await asyncio.gather(*(ws.receive() for ws in opened))
                sockets += opened
            open_seconds = time.perf_counter() - started
            after = await settle(pid, 5.0)
            async with http.get(f"{server.base_url}/readyz") as response:
                ready = await response.json()
            per_connection = (after - before) / count
            for ws in sockets:
                await ws.close()
    emit(
        {
            "benchmark": "webchat_idle",
            "connections": count,
            "open_seconds": round(open_seconds, 2),
            "server_rss_kb": {"before": before, "after": after},
            "kb_per_connection": round(per_connection, 2),
            "target_kb_per_connection": TARGET_KB,
            "target_met": per_connection <= TARGET_KB,
            "webchat_state": ready.get("components", ready).get("channel:webchat:default"),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    run(main)
