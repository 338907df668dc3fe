"""Plain-int counters for the request check, read by the metrics exporter, not by the check.

The warm check costs well under a microsecond; a Prometheus ``observe`` takes a lock and
costs about as much again, and even a sampled clock read measured at +7 %. So the warm check
only bumps one integer on an object it owns; latency is timed at the HTTP edge
(``RequestChecker.timed_check``), where a clock pair is noise beside the request. The exporter
(:mod:`sessionjwt.web.metrics`) turns these into metric families when scraped.
Single-threaded asyncio needs no locks for ``+=`` on attributes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

# Upper bounds in seconds: warm checks land in the first buckets, store reads further up.
LATENCY_BUCKETS = (
    0.000_002,
    0.000_005,
    0.000_01,
    0.000_05,
    0.000_1,
    0.000_5,
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
)


class CheckStats:
    """What the request check counts. Derived: ok = checks - refused; liveness hits =
    checks - refused before the liveness look-up - misses."""

    __slots__ = ("buckets", "checks", "latency_sum", "misses", "refused", "refused_early")

    def __init__(self) -> None:
        self.checks = 0
        self.misses = 0  # liveness look-ups that had to read the store
        self.refused: Counter[str] = Counter()  # by error code
        self.refused_early = 0  # refused before the liveness look-up (the token itself)
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # last one: +Inf
        self.latency_sum = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def refuse(self, code: str, *, early: bool) -> None:
        self.refused[code] += 1
        if early:
            self.refused_early += 1

    @property
    def ok(self) -> int:
        return self.checks - sum(self.refused.values())

    @property
    def liveness_hits(self) -> int:
        return self.checks - self.refused_early - self.misses


# Upper bounds in seconds for how long a revoke waited for the other processes: about a
# millisecond when every member acknowledges, a lease (100 ms by default) when one is silent.
ANNOUNCE_BUCKETS = (
    *(0.000_5, 0.001, 0.002, 0.003, 0.005, 0.007_5, 0.01, 0.02, 0.05),
    *(0.075, 0.1, 0.105, 0.11, 0.2, 0.5, 1.0, 1.005),  # 105 ms: the default lease + margin
)


class Durations:
    """A histogram as plain integers: bucket counts (the last one +Inf) and the sum."""

    __slots__ = ("bounds", "buckets", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.buckets)
