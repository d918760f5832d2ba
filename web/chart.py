"""The dashboard's chart of the last 24 hours, drawn as SVG on the server.

Computed from the waiting periods the store keeps anyway (``waits``: from the customer's
message to the agent's answer or the resolve), not sampled by a timer: the history is right
after a restart, on every process, and for times before the dashboard existed. Each point is
the number of customers waiting for an agent at that moment, which is the queue plus the
conversations assigned but not yet answered, and how long the longest of them had waited.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.ports import WaitRecord

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, GAP, BOTTOM = 48, 16, 24, 40, 28
PANEL = (HEIGHT - TOP - GAP - BOTTOM) // 2


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    waiting: int
    longest_seconds: float


def series(
    records: Sequence[WaitRecord], now: datetime, *, hours: int = 24, step_minutes: int = 10
) -> list[Point]:
    """One point per ``step_minutes`` over the last ``hours``: a sweep over the waits in
    start order, O(n log n) whatever the number of points."""
    steps = hours * 60 // step_minutes
    earliest = now - timedelta(hours=hours)
    # On the clock's step boundaries, so the axis can label whole hours; the last is now.
    start = earliest.replace(second=0, microsecond=0) - timedelta(
        minutes=earliest.minute % step_minutes
    )
    ordered = sorted(records, key=lambda r: r.started_at)
    never = datetime.max.replace(tzinfo=now.tzinfo)
    oldest: list[tuple[datetime, datetime]] = []  # (started, closed) of waits begun so far
    closing: list[datetime] = []  # when the waits begun so far end
    index = ended = 0
    points = []
    times = [start + timedelta(minutes=step_minutes * n) for n in range(1, steps + 1)]
    for at in [*(t for t in times if t < now), now]:
        while index < len(ordered) and ordered[index].started_at <= at:
            record = ordered[index]
            closed = record.closed_at or never
            heapq.heappush(oldest, (record.started_at, closed))
            heapq.heappush(closing, closed)
            index += 1
        while closing and closing[0] <= at:
            heapq.heappop(closing)
            ended += 1
        # Only the oldest open wait matters for "longest": ended ones leave the top lazily.
        while oldest and oldest[0][1] <= at:
            heapq.heappop(oldest)
        waiting = index - ended
        longest = (at - oldest[0][0]).total_seconds() if oldest else 0.0
        points.append(Point(at, waiting, max(0.0, longest)))
    return points


def _nice(value: float) -> float:
    for top in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000):
        if value <= top:
            return float(top)
    return float(value)


def _panel(
    points: Sequence[Point], values: Sequence[float], top: int, title: str, colour: str
) -> list[str]:
    plot_width = WIDTH - LEFT - RIGHT
    ceiling = _nice(max(values, default=0.0) or 1.0)
    count = max(1, len(points) - 1)

    def x(i: int) -> float:
        return LEFT + plot_width * i / count

    def y(v: float) -> float:
        return top + PANEL - PANEL * v / ceiling

    parts = [
        f'<text x="{LEFT}" y="{top - 8}" font-size="13" fill="#1f2328">{title}</text>',
        f'<line x1="{LEFT}" y1="{top + PANEL}" x2="{WIDTH - RIGHT}" y2="{top + PANEL}" '
        'stroke="#d0d7de"/>',
    ]
    for fraction in (0.5, 1.0):
        level = ceiling * fraction
        parts.append(
            f'<line x1="{LEFT}" y1="{y(level):.1f}" x2="{WIDTH - RIGHT}" y2="{y(level):.1f}" '
            'stroke="#eaeef2"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(level) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#57606a">{level:g}</text>'
        )
    parts.append(
        f'<text x="{LEFT - 6}" y="{top + PANEL + 4}" text-anchor="end" font-size="11" '
        'fill="#57606a">0</text>'
    )
    if values:
        line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        area = f"{x(0):.1f},{y(0):.1f} {line} {x(len(values) - 1):.1f},{y(0):.1f}"
        parts.append(f'<polygon points="{area}" fill="{colour}" fill-opacity="0.15"/>')
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
    return parts


def chart_svg(points: Sequence[Point]) -> str:
    """Two panels sharing a time axis: customers waiting, and the longest wait in minutes."""
    waiting = [float(p.waiting) for p in points]
    longest = [round(p.longest_seconds / 60, 1) for p in points]
    second = TOP + PANEL + GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" font-family="system-ui, sans-serif">',
        "<title>Customers waiting and the longest wait, last 24 hours</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        *_panel(points, waiting, TOP, "Customers waiting for an agent", "#2457d6"),
        *_panel(points, longest, second, "Longest wait (minutes)", "#c2410c"),
    ]
    plot_width = WIDTH - LEFT - RIGHT
    count = max(1, len(points) - 1)
    for i, point in enumerate(points):
        if point.at.minute == 0 and point.at.hour % 3 == 0:
            x = LEFT + plot_width * i / count
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11" '
                f'fill="#57606a">{point.at:%H:%M}</text>'
            )
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" '
        'fill="#57606a">UTC</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)
