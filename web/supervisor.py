"""``/supervisor``: the live queue by team, channel and tier, the oldest wait, agents' load
and presence, SLA breaches, today's first-response times, promises kept, CSAT, and the last
24 hours as an SVG chart drawn here. ``/api/supervisor`` serves the same figures to
``static/supervisor.js``, which refreshes the page's numbers without a reload."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, timedelta
from statistics import mean
from typing import Any

from aiohttp import web

from bridge.errors import Forbidden
from bridge.model import Presence
from bridge.ports import Rating
from web.api import current_agent
from web.chart import chart_svg, series
from web.deliveries import DeliveryRoutes, banner
from web.inbox_view import PRESENCE_LABELS, STATUS_LABELS
from web.render import Renderer, app_headers, duration
from web.services import WebServices
from web.sessions import Sessions, require_session

WAITING_SHOWN = 10
ALL = 1_000_000


def _csat(ratings: list[Rating]) -> dict[str, Any]:
    counts = Counter(r.rating for r in ratings)
    return {
        "count": len(ratings),
        "average": round(mean(r.rating for r in ratings), 2) if ratings else None,
        "satisfied_percent": (
            round(100 * sum(1 for r in ratings if r.rating >= 4) / len(ratings), 1)
            if ratings
            else None
        ),
        "distribution": [{"rating": n, "count": counts.get(n, 0)} for n in range(1, 6)],
    }


class SupervisorPages:
    def __init__(self, services: WebServices, sessions: Sessions) -> None:
        self._services = services
        self._sessions = sessions
        self._render = Renderer()
        self._deliveries = DeliveryRoutes(services)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/supervisor", self.page),
            web.get("/supervisor/chart.svg", self.chart),
            web.get("/api/supervisor", self.figures),
        ]

    async def report(self, reader_id: int) -> dict[str, Any]:
        services = self._services
        now = services.clock.now()
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        items, length = services.queue.queue(limit=ALL)
        today, week, ratings_today, waits, loads = await asyncio.gather(
            services.queue.stats(midnight),
            services.inbox.ratings.ratings_since(now - timedelta(days=7)),
            services.inbox.ratings.ratings_since(midnight),
            services.inbox.dashboard.open_waits(),
            services.inbox.dashboard.agent_loads(),
        )
        by_channel: Counter[str] = Counter(i.conversation.origin.channel for i in items)
        by_tier: Counter[int] = Counter(i.conversation.tier for i in items)
        longest = sorted(items, key=lambda i: i.waiting_seconds, reverse=True)[:WAITING_SHOWN]
        breached = [w for w in waits if w.breached_at is not None]
        rows = await services.inbox.inbox.rows(
            [i.conversation.id for i in longest] + [w.conversation_id for w in breached],
            reader_id,
        )
        names = {r.conversation.id: r for r in rows}
        live = today["live"]
        overall = today["overall"]
        presence = dict(PRESENCE_LABELS)
        return {
            "generated_at": now.isoformat(),
            "queue_length": length,
            "oldest_wait_seconds": live["oldest_wait_seconds"],
            "oldest_wait": duration(live["oldest_wait_seconds"]),
            "by_team": live["by_partition"],
            "by_channel": [{"channel": c, "length": n} for c, n in sorted(by_channel.items())],
            "by_tier": [{"tier": t, "length": n} for t, n in sorted(by_tier.items())],
            "agents_online": sum(1 for a in loads if a.agent.presence is Presence.ONLINE),
            "agents": [
                {
                    "id": a.agent.id,
                    "name": a.agent.name,
                    "role": a.agent.role.value,
                    "teams": list(a.agent.teams),
                    "presence": a.agent.presence.value,
                    "presence_label": presence.get(a.agent.presence.value, ""),
                    "load": a.load,
                    "capacity": a.agent.capacity,
                }
                for a in sorted(loads, key=lambda a: a.agent.name)
            ],
            "sla_breaches_today": overall["sla_breaches"],
            "breached_now": [
                {
                    "conversation_id": w.conversation_id,
                    "reference": f"#{w.conversation_id}",
                    "customer_name": names[w.conversation_id].customer_name
                    if w.conversation_id in names
                    else "",
                    "channel": w.channel,
                    "kind": w.kind,
                    "waiting": duration((now - w.started_at).total_seconds()),
                }
                for w in breached
            ],
            "first_response_p50": duration(overall["first_response_p50_seconds"]),
            "first_response_p90": duration(overall["first_response_p90_seconds"]),
            "first_response_p50_seconds": overall["first_response_p50_seconds"],
            "first_response_p90_seconds": overall["first_response_p90_seconds"],
            "promises_kept_percent": overall["promises_kept_percent"],
            "promises_kept": overall["promises_kept"],
            "promises_broken": overall["promises_broken"],
            "csat_today": _csat(ratings_today),
            "csat_week": _csat(week),
            "longest_waiting": [
                {
                    "conversation_id": i.conversation.id,
                    "reference": i.conversation.reference,
                    "customer_name": names[i.conversation.id].customer_name
                    if i.conversation.id in names
                    else "",
                    "preview": (names[i.conversation.id].preview or "")
                    if i.conversation.id in names
                    else "",
                    "channel": i.conversation.origin.channel,
                    "team": i.conversation.team,
                    "tier": i.conversation.tier,
                    "status": STATUS_LABELS[i.conversation.status],
                    "waiting": duration(i.waiting_seconds),
                }
                for i in longest
            ],
        }

    async def page(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        session = await require_session(self._sessions, request, supervisor=True)
        report, waiting = await asyncio.gather(
            self.report(session.agent.id), self._deliveries.read()
        )
        return self._render.page(
            "supervisor.html",
            started=started,
            title="Supervisor",
            page="supervisor",
            agent=session.agent,
            csrf_token=session.csrf_secret,
            presences=PRESENCE_LABELS,
            back="/supervisor",
            flash=None,
            waiting=banner(waiting, self._services.clock.now()),
            report=report,
        )

    async def figures(self, request: web.Request) -> web.Response:
        agent = current_agent(request)
        if not agent.is_supervisor:
            raise Forbidden("the dashboard is for supervisors and admins")
        return web.json_response(await self.report(agent.id))

    async def chart(self, request: web.Request) -> web.Response:
        await require_session(self._sessions, request, supervisor=True)
        now = self._services.clock.now()
        records = await self._services.inbox.dashboard.waits_between(now - timedelta(hours=24), now)
        response = web.Response(text=chart_svg(series(records, now)), content_type="image/svg+xml")
        app_headers(response)
        return response
