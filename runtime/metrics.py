"""``GET /metrics``: the bridge in Prometheus' text format.

Counters and histograms are fed by observers the ingest pipeline and the dispatcher call, and
by the bus (SLA breaches); gauges (queue, agents, sessions) are read from the live state at
scrape time, so they are never stale. Promise statistics need a database query, so they are
refreshed in the background every ``STATS_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from bridge.events import SlaBreached
from bridge.model import Presence
from bridge.ports import Clock, EventBus
from bridge.tasks import TaskGroup
from routing.router import Router

log = logging.getLogger(__name__)

STATS_SECONDS = 60.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _LiveState(Collector):
    def __init__(self, router: Router, clock: Clock, sessions: Callable[[], int]) -> None:
        self._router = router
        self._clock = clock
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        now = self._clock.now()
        queue = self._router.state.queue
        length = GaugeMetricFamily(
            "bridge_queue_length",
            "Conversations waiting for an agent.",
            labels=["team", "tier", "channel"],
        )
        oldest = GaugeMetricFamily(
            "bridge_queue_oldest_wait_seconds",
            "How long the longest-waiting customer has waited.",
            labels=["team", "tier", "channel"],
        )
        for team, tier in queue.partitions():
            counts: dict[str, int] = {}
            first: dict[str, float] = {}
            for _, conversation in queue.in_order((team, tier)):
                channel = conversation.origin.channel
                counts[channel] = counts.get(channel, 0) + 1
                if channel not in first and conversation.waiting_since is not None:
                    first[channel] = (now - conversation.waiting_since).total_seconds()
            for channel, count in counts.items():
                length.add_metric([team, str(tier), channel], count)
                oldest.add_metric([team, str(tier), channel], max(0.0, first.get(channel, 0.0)))
        yield length
        yield oldest
        agents = GaugeMetricFamily("bridge_agents", "Agents by presence.", labels=["presence"])
        load = GaugeMetricFamily(
            "bridge_agent_load", "Conversations agents hold, and could.", labels=["kind"]
        )
        views = list(self._router.state.agents.values())
        for presence in Presence:
            agents.add_metric(
                [presence.value], sum(1 for v in views if v.agent.presence is presence)
            )
        online = [v for v in views if v.agent.presence is Presence.ONLINE]
        load.add_metric(["held"], sum(v.load for v in online))
        load.add_metric(["capacity"], sum(v.agent.capacity for v in online))
        yield agents
        yield load
        sessions = GaugeMetricFamily(
            "bridge_webchat_sessions", "Open web chat websockets on this process."
        )
        sessions.add_metric([], self._sessions())
        yield sessions


class Metrics:
    def __init__(
        self,
        router: Router,
        bus: EventBus,
        clock: Clock,
        *,
        sessions: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = CollectorRegistry()
        self._router = router
        self._bus = bus
        self._clock = clock
        self._tasks = TaskGroup("metrics")
        self.ingested = Counter(
            "bridge_ingested_messages",
            "Customer messages committed.",
            ["channel"],
            registry=self.registry,
        )
        self.ingest_latency = Histogram(
            "bridge_ingest_seconds",
            "From hand-in to commit.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "bridge_deliveries",
            "Delivery attempts by outcome.",
            ["channel", "state"],
            registry=self.registry,
        )
        self.delivery_failures = Counter(
            "bridge_delivery_failures",
            "Deliveries given up, by reason.",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "bridge_delivery_seconds",
            "From queued to sent.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.breaches = Counter(
            "bridge_sla_breaches",
            "First or next responses overdue.",
            ["channel", "team", "response"],
            registry=self.registry,
        )
        self._kept: float | None = None
        self._error: float | None = None
        self.registry.register(_LiveState(router, clock, sessions))
        self.registry.register(_Promises(self))

    # --- observers ------------------------------------------------------------------------

    def on_ingest(self, channel: str, seconds: float) -> None:
        self.ingested.labels(channel).inc()
        self.ingest_latency.labels(channel).observe(seconds)

    def on_delivery(self, channel: str, state: str, error: str | None, seconds: float) -> None:
        self.deliveries.labels(channel, state).inc()
        if state == "sent":
            self.delivery_latency.labels(channel).observe(seconds)
        elif state in ("failed", "dead"):
            self.delivery_failures.labels(channel, _reason(error)).inc()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        subscription = self._bus.subscribe(frozenset({SlaBreached.kind}))
        self._tasks.spawn(self._follow(subscription), "breaches")
        self._tasks.spawn(self._refresh(), "promises")

    async def stop(self) -> None:
        await self._tasks.cancel_all()

    async def _follow(self, subscription: object) -> None:
        async for event in subscription:  # type: ignore[attr-defined]
            if isinstance(event, SlaBreached):
                self.breaches.labels(event.channel, event.team, event.response).inc()

    async def _refresh(self) -> None:
        while True:
            try:
                stats = await self._router.stats(self._clock.now() - timedelta(days=1))
                overall = stats["overall"]
                self._kept = _number(overall.get("promises_kept_percent"))
                self._error = _number(overall.get("estimate_error_median_percent"))
            except Exception:
                log.exception("promise statistics for /metrics failed; retrying later")
            await asyncio.sleep(STATS_SECONDS)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.scrape)]

    async def scrape(self, request: web.Request) -> web.Response:
        del request
        body = await asyncio.to_thread(generate_latest, self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _Promises(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        kept = GaugeMetricFamily(
            "bridge_promises_kept_percent",
            "Customers answered before the announced time, last 24 hours.",
        )
        error = GaugeMetricFamily(
            "bridge_promise_error_percent",
            "Median absolute error of announced times, last 24 hours.",
        )
        if self._metrics._kept is not None:
            kept.add_metric([], self._metrics._kept)
        if self._metrics._error is not None:
            error.add_metric([], self._metrics._error)
        yield kept
        yield error


def _reason(error: str | None) -> str:
    """A low-cardinality label from an error text: its first words, not the whole story."""
    if not error:
        return "unknown"
    words = error.replace(":", " ").split()[:3]
    return " ".join(words).lower()[:40]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
