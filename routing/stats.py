"""Promise and SLA figures from waiting periods: were customers answered when we said?

A promise is *kept* when the first agent reply came no later than the promised time, and
*broken* when it came later, or has not come and the time has passed. A wait closed without
any reply before its promised time (resolved as spam, say) is neither. The estimate error is
|promised - answered| relative to the actual wait, as a median.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from statistics import median
from typing import Any

from bridge.ports import WaitRecord


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summarize(records: Iterable[WaitRecord], now: datetime) -> dict[str, Any]:
    kept = broken = promised = answered = breached = 0
    errors: list[float] = []
    first_waits: list[float] = []
    total = 0
    for r in records:
        total += 1
        if r.breached_at is not None:
            breached += 1
        if r.answered_at is not None:
            answered += 1
            if r.kind == "first":
                first_waits.append((r.answered_at - r.started_at).total_seconds())
        if r.promised_at is None or r.promise_made_at is None:
            continue
        promised += 1
        if r.answered_at is not None:
            if r.answered_at <= r.promised_at:
                kept += 1
            else:
                broken += 1
            actual = (r.answered_at - r.promise_made_at).total_seconds()
            if actual > 0:
                errors.append(abs((r.promised_at - r.answered_at).total_seconds()) / actual)
        else:
            # Unanswered: broken once the promised time passed while the customer waited.
            ended = r.closed_at or now
            if ended > r.promised_at:
                broken += 1
    judged = kept + broken
    return {
        "waits": total,
        "answered": answered,
        "promises": promised,
        "promises_kept": kept,
        "promises_broken": broken,
        "promises_kept_percent": round(100 * kept / judged, 1) if judged else None,
        "estimate_error_median_percent": round(100 * median(errors), 1) if errors else None,
        "first_response_p50_seconds": _percentile(first_waits, 0.5),
        "first_response_p90_seconds": _percentile(first_waits, 0.9),
        "sla_breaches": breached,
    }


def report(records: list[WaitRecord], now: datetime) -> dict[str, Any]:
    by_channel: dict[str, list[WaitRecord]] = defaultdict(list)
    for record in records:
        by_channel[record.channel].append(record)
    return {
        "overall": summarize(records, now),
        "by_channel": {channel: summarize(rs, now) for channel, rs in sorted(by_channel.items())},
    }
