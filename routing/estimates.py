"""Expected response times, from the live state of a partition.

A customer at position ``p`` with ``f`` free agent slots is assigned at once when ``p <= f``;
otherwise after ``k = p - f`` more slots free up, each slot going to whoever is first in line.
When a slot frees depends on how long its current conversation has run and on how long
conversations take (``handling``: assignment to the slot being free again). Then the agent
still has to answer (``response``: assignment to the first public reply).

Both are learnt from what happened recently, per team, as reservoirs of real durations (a
moving window; the mean of a window is the moving average the issue asks for, and the window
also gives the spread). The wait is simulated a few hundred times from the live state: every
busy slot's remaining time is drawn from the handling times longer than its elapsed time, the
``k`` earliest frees are taken in order (a freed slot restarts with a full handling time for
the customer ahead who got it), and a response time is added. The announced time is an upper
quantile of those outcomes, so that it is kept about as often as promised; the median is the
best single guess. Very long lines use the normal approximation of the same process instead
of simulating thousands of frees.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean

#: Until a team has history, assume a conversation takes this long and the first reply this
#: long after assignment (seconds). They are replaced as soon as real durations arrive.
PRIOR_HANDLING = 600.0
PRIOR_RESPONSE = 45.0
WINDOW = 400
SAMPLES = 200
SIMULATE_UP_TO = 200  # frees; beyond, the normal approximation
MIN_OWN_SAMPLES = 10  # an agent's own reply times count from this many on


class Reservoir:
    """The last ``size`` durations, kept sorted for quantiles and conditional draws."""

    def __init__(self, prior: float, size: int = WINDOW) -> None:
        self._prior = prior
        self._recent: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []
        self._stats: tuple[float, float] | None = None  # (mean, spread), until the next add

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._recent.append(seconds)
        bisect.insort(self._sorted, seconds)
        self._stats = None

    def __len__(self) -> int:
        return len(self._recent)

    def values(self) -> Sequence[float]:
        return self._sorted if self._sorted else (self._prior,)

    def _summary(self) -> tuple[float, float]:
        if self._stats is None:
            values = self.values()
            mean = fmean(values)
            spread = (
                math.sqrt(fmean([(v - mean) ** 2 for v in values])) if len(values) > 1 else mean
            )
            self._stats = (mean, spread)
        return self._stats

    def mean(self) -> float:
        return self._summary()[0]

    def spread(self) -> float:
        """The standard deviation (the mean itself while there is a single value)."""
        return self._summary()[1]

    def draw(self, rng: random.Random) -> float:
        values = self.values()
        return values[int(rng.random() * len(values))]

    def draw_remaining(self, elapsed: float, rng: random.Random) -> float:
        """Time left for something that has run ``elapsed`` already."""
        values = self.values()
        start = bisect.bisect_right(values, elapsed)
        if start >= len(values):
            # Longer than anything seen: expect it to last about a typical spread more.
            return max(1.0, self.spread())
        return values[start + int(rng.random() * (len(values) - start))] - elapsed


@dataclass(frozen=True, slots=True)
class Estimate:
    median: float  # seconds: the best single guess
    announced: float  # seconds: kept with probability ``quantile``
    assigned_at_once: bool


class Estimator:
    def __init__(
        self,
        *,
        quantile: float = 0.92,
        samples: int = SAMPLES,
        seed: int | None = None,
        prior_handling: float = PRIOR_HANDLING,
        prior_response: float = PRIOR_RESPONSE,
    ) -> None:
        self.quantile = quantile
        self._samples = samples
        self._rng = random.Random(seed)  # noqa: S311 - statistics, not secrets
        self._prior_handling = prior_handling
        self._prior_response = prior_response
        self._handling: dict[str, Reservoir] = {}
        self._response: dict[str, Reservoir] = {}
        self._agent_response: dict[int, Reservoir] = {}

    def handling(self, team: str) -> Reservoir:
        return self._handling.setdefault(team, Reservoir(self._prior_handling))

    def response(self, team: str) -> Reservoir:
        return self._response.setdefault(team, Reservoir(self._prior_response))

    def observe_handling(self, team: str, seconds: float) -> None:
        self.handling(team).add(seconds)

    def observe_response(self, team: str, seconds: float, agent_id: int | None = None) -> None:
        self.response(team).add(seconds)
        if agent_id is not None:
            self._agent_response.setdefault(agent_id, Reservoir(self._prior_response)).add(seconds)

    def _response_of(self, team: str, agent_id: int | None) -> Reservoir:
        # Once the agent is known, their own pace predicts far better than the team's mix.
        own = self._agent_response.get(agent_id) if agent_id is not None else None
        if own is not None and len(own) >= MIN_OWN_SAMPLES:
            return own
        return self.response(team)

    def estimate(
        self,
        *,
        team: str,
        position: int,
        free_slots: Sequence[int],
        busy: Sequence[tuple[float, int]],
        agent_id: int | None = None,
    ) -> Estimate | None:
        """The wait for the customer at ``position`` (1-based; 0 when ``agent_id`` already
        has the conversation), or None when nobody serves the partition.

        ``free_slots`` lists the agent of each free slot; ``busy`` the elapsed seconds and the
        agent of each occupied one. Knowing whose slot frees up lets the simulation draw that
        agent's own reply time, which varies far less than the team's mix.
        """
        if not free_slots and not busy and agent_id is None:
            return None
        handling = self.handling(team)
        k = position - len(free_slots)
        if k <= 0:
            # Assigned at once: to the holder, or to the first free slot's agent.
            who = agent_id if agent_id is not None else (free_slots[0] if free_slots else None)
            response = self._response_of(team, who)
            draws = sorted(response.draw(self._rng) for _ in range(self._samples))
            return Estimate(_at(draws, 0.5), _at(draws, self.quantile), assigned_at_once=True)
        if k > SIMULATE_UP_TO:
            slots = len(free_slots) + len(busy)
            return self._approximate(k, slots, handling, self.response(team))
        draws = sorted(
            self._one_wait(k, team, free_slots, busy, handling)[k - 1] for _ in range(self._samples)
        )
        return Estimate(_at(draws, 0.5), _at(draws, self.quantile), assigned_at_once=False)

    def line(
        self,
        *,
        team: str,
        count: int,
        free_slots: Sequence[int],
        busy: Sequence[tuple[float, int]],
    ) -> list[Estimate | None]:
        """Estimates for positions 1..count of one line, from one simulation of its frees
        (a queue page shows every position; simulating each alone would cost count times)."""
        if (not free_slots and not busy) or count <= 0:
            return [None] * max(0, count)
        handling = self.handling(team)
        free = len(free_slots)
        queued = max(0, min(count - free, SIMULATE_UP_TO))
        samples = max(50, self._samples // 2)
        runs = [self._one_wait(queued, team, free_slots, busy, handling) for _ in range(samples)]
        estimates: list[Estimate | None] = []
        for position in range(1, count + 1):
            k = position - free
            if k <= 0:
                response = self._response_of(team, free_slots[position - 1])
                at_once = sorted(response.draw(self._rng) for _ in range(samples))
                estimates.append(
                    Estimate(_at(at_once, 0.5), _at(at_once, self.quantile), assigned_at_once=True)
                )
            elif k <= queued:
                draws = sorted(run[k - 1] for run in runs)
                estimates.append(Estimate(_at(draws, 0.5), _at(draws, self.quantile), False))
            else:
                slots = free + len(busy)
                estimates.append(self._approximate(k, slots, handling, self.response(team)))
        return estimates

    def _one_wait(
        self,
        k: int,
        team: str,
        free_slots: Sequence[int],
        busy: Sequence[tuple[float, int]],
        handling: Reservoir,
    ) -> list[float]:
        """One simulated future: when each of the next ``k`` customers in line (after those
        taking the free slots) gets their first reply."""
        rng = self._rng
        frees = [(handling.draw_remaining(e, rng), agent) for e, agent in busy]
        # Free slots right now are taken by the first ones in line at once.
        frees += [(handling.draw(rng), agent) for agent in free_slots]
        heapq.heapify(frees)
        replies = []
        for _ in range(k):
            moment, agent = heapq.heappop(frees)
            heapq.heappush(frees, (moment + handling.draw(rng), agent))
            replies.append(moment + self._response_of(team, agent).draw(rng))
        return replies

    def _approximate(
        self, k: int, slots: int, handling: Reservoir, response: Reservoir
    ) -> Estimate:
        mean_h = handling.mean()
        spread_h = handling.spread()
        # k frees from ``slots`` parallel renewal processes: about k * h / slots, with the
        # variance of a renewal count.
        mean = k * mean_h / slots + response.mean()
        sd = math.sqrt(k) * spread_h / slots
        z = NormalDist().inv_cdf(self.quantile)
        return Estimate(mean, mean + z * sd, assigned_at_once=False)


def _at(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
