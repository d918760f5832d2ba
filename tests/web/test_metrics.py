"""``GET /metrics`` in Prometheus' text format, fed by the live bridge."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bridge.clock import SystemClock
from bridge.model import ThreadRef
from tests.factories import inbound
from tests.harness import running_bridge


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_show_the_queue_ingest_and_deliveries(tmp_path: Path) -> None:
    async with running_bridge(tmp_path) as bridge:
        sent = bridge.runtime.bus.subscribe(frozenset({"delivery.sent"}))
        for visitor in ("v1", "v2"):
            await bridge.runtime.ingestor.ingest(
                inbound(
                    visitor, at=SystemClock().now(), thread=ThreadRef("webchat", "default", visitor)
                )
            )
        await bridge.runtime.router.settle()
        async for _ in sent:  # the first acknowledgement went out
            break
        async with bridge.http.get(bridge.url("/metrics")) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            found = samples(await response.text())
    queue = (("channel", "webchat"), ("team", "support"), ("tier", "1"))
    assert found[("bridge_queue_length", queue)] == 2
    assert found[("bridge_queue_oldest_wait_seconds", queue)] >= 0
    assert found[("bridge_ingested_messages_total", (("channel", "webchat"),))] == 2
    assert found[("bridge_ingest_seconds_count", (("channel", "webchat"),))] == 2
    assert found[("bridge_deliveries_total", (("channel", "webchat"), ("state", "sent")))] >= 1
    assert found[("bridge_agents", (("presence", "online"),))] == 0
    assert ("bridge_webchat_sessions", ()) in found
