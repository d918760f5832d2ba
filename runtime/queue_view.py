"""``bridge queue [--watch]``: the live queue and the agents in the terminal (rich).

It runs as its own process and reads the database directly (the same rows the router
rebuilds its view from: queued conversations in service order, agents with their load), so it
needs no token and no running bridge, and works against SQLite and PostgreSQL alike. The
estimates are the router's and live in the bridge's memory; the terminal shows what the store
knows: place in line, wait, and the reply time promised to the customer.

Customer names are shown as plain text (``rich.text.Text``), never as rich markup.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bridge.clock import SystemClock
from bridge.model import Conversation
from bridge.ports import AgentLoad
from storage.store import Storage

PRESENCE_STYLES = {"online": "green", "away": "yellow", "dnd": "red", "offline": "dim"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    queued: list[Conversation]
    loads: list[AgentLoad]
    names: dict[int, str]
    now: datetime


async def snapshot(storage: Storage) -> Snapshot:
    queued = [c for c in await storage.routing.queued() if c.waiting_since is not None]
    loads = await storage.routing.agent_loads()
    names = await storage.conversations.customer_names([c.customer_id for c in queued])
    return Snapshot(queued, loads, names, SystemClock().now())


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def render(view: Snapshot) -> Group:
    positions: dict[tuple[str, int], int] = defaultdict(int)
    oldest = max(
        ((view.now - c.waiting_since).total_seconds() for c in view.queued if c.waiting_since),
        default=None,
    )
    title = f"Queue: {len(view.queued)} waiting"
    if oldest is not None:
        title += f", oldest {_age(oldest)}"
    queue = Table(title=title, title_justify="left", expand=False)
    for column in ("#", "Conversation", "Customer", "Channel", "Team / tier", "Priority"):
        queue.add_column(column)
    queue.add_column("Waiting", justify="right")
    queue.add_column("Promised", justify="right")
    for conversation in view.queued:
        line = (conversation.team, conversation.tier)
        positions[line] += 1
        waiting = (
            (view.now - conversation.waiting_since).total_seconds()
            if (conversation.waiting_since)
            else 0.0
        )
        promised = conversation.promised_reply_at
        promise = Text("")
        if promised is not None:
            left = (promised - view.now).total_seconds()
            promise = (
                Text(f"in {_age(left)}") if left >= 0 else Text(f"late {_age(-left)}", "bold red")
            )
        queue.add_row(
            str(positions[line]),
            conversation.reference,
            Text(view.names.get(conversation.customer_id, "")),
            Text(conversation.origin.channel),
            Text(f"{conversation.team} / {conversation.tier}"),
            conversation.priority.name.lower(),
            _age(waiting),
            promise,
        )
    agents = Table(title="Agents", title_justify="left")
    for column in ("Agent", "Role", "Status", "Load", "Teams"):
        agents.add_column(column)
    for entry in view.loads:
        agent = entry.agent
        presence = agent.presence.value
        agents.add_row(
            Text(agent.name),
            agent.role.value,
            Text(presence, PRESENCE_STYLES.get(presence, "")),
            f"{entry.load}/{agent.capacity}",
            Text(", ".join(agent.teams)),
        )
    stamp = Text(f"{view.now:%Y-%m-%d %H:%M:%S} UTC", "dim")
    return Group(queue, agents, stamp)


async def run(
    storage: Storage, console: Console, *, watch: bool, interval: float, count: int | None
) -> None:
    if not watch:
        console.print(render(await snapshot(storage)))
        return
    with Live(render(await snapshot(storage)), console=console, auto_refresh=False) as live:
        shown = 1
        while count is None or shown < count:
            await asyncio.sleep(interval)
            live.update(render(await snapshot(storage)), refresh=True)
            shown += 1


def queue_command(config: str | None, *, watch: bool, interval: float, count: int | None) -> int:
    from runtime.commands import _settings

    settings = _settings(config)
    console = Console()

    async def main() -> None:
        storage = Storage.open(settings.storage.database_url)
        try:
            await storage.prepare(auto_migrate=False)
            await run(storage, console, watch=watch, interval=max(0.05, interval), count=count)
        finally:
            await storage.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except Exception as error:  # an outdated schema, an unreachable database
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0
