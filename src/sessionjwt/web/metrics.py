"""Prometheus metrics for one :class:`~sessionjwt.facade.AuthCore`, read when scraped.

Nothing here runs per request: the flows keep plain integer counters (see
:mod:`sessionjwt.support.counters`) and :class:`SessionJWTCollector` turns them into metric families
at scrape time. Each instance gets its own ``CollectorRegistry``, so many instances in one
process (tests, several apps) never collide in a global registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sessionjwt.support.counters import LATENCY_BUCKETS, Durations

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

PREFIX = "sessionjwt"


class SessionJWTCollector(Collector):
    def __init__(self, auth: AuthCore) -> None:
        self._auth = auth

    def collect(self) -> Iterator[Metric]:
        auth = self._auth
        stats = auth.checker.stats

        checks = CounterMetricFamily(
            f"{PREFIX}_checks",
            "Request checks by outcome: ok, or the refusal's error code.",
            labels=["outcome"],
        )
        checks.add_metric(["ok"], stats.ok)
        for code, count in sorted(stats.refused.items()):
            checks.add_metric([code], count)
        yield checks

        yield HistogramMetricFamily(
            f"{PREFIX}_check_duration_seconds",
            "Request-check latency at the HTTP edge (guard and dependency).",
            buckets=_cumulative(LATENCY_BUCKETS, stats.buckets),
            sum_value=stats.latency_sum,
        )

        liveness = CounterMetricFamily(
            f"{PREFIX}_liveness_lookups",
            "Liveness look-ups answered from memory (hit) or the store (miss).",
            labels=["result"],
        )
        liveness.add_metric(["hit"], stats.liveness_hits)
        liveness.add_metric(["miss"], stats.misses)
        yield liveness

        revocations = CounterMetricFamily(
            f"{PREFIX}_revocations",
            "Sessions ended, by reason (a sign-out everywhere or a disable counts once).",
            labels=["reason"],
        )
        for reason, count in sorted(auth.revoker.revocations.items()):
            revocations.add_metric([reason], count)
        yield revocations

        yield CounterMetricFamily(
            f"{PREFIX}_refresh_reuse_detections",
            "Replayed refresh tokens (the session was revoked).",
            value=auth.revoker.reuse_detections,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_login_failures",
            "Logins refused for a wrong password or an unknown account.",
            value=auth.authenticator.failures,
        )

        refusals = CounterMetricFamily(
            f"{PREFIX}_rate_limit_refusals",
            "Requests refused with 429, by limit (login-ip, login-account, refresh-ip, ...).",
            labels=["limit"],
        )
        for limit, count in sorted(auth.throttle.refusals.items()):
            refusals.add_metric([limit], count)
        yield refusals

        yield from _gauges(auth)


def _gauges(auth: AuthCore) -> Iterator[Metric]:
    ring = auth.keys.ring if auth.keys is not None else None
    if ring is not None and ring.active.activated_at is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_signing_key_age_seconds",
            "How long the active signing key has been signing.",
            value=max(0.0, auth.clock.now() - ring.active.activated_at),
        )
    yield from _announce_waits(auth)
    healthy = getattr(auth.feed, "healthy", True)
    yield GaugeMetricFamily(
        f"{PREFIX}_feed_healthy",
        "1 when the invalidation feed vouches for memory (always 1 without Redis).",
        value=1.0 if healthy else 0.0,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_liveness_cache_sessions",
        "Sessions held in this process's liveness memory.",
        value=len(auth.cache),
    )


def _announce_waits(auth: AuthCore) -> Iterator[Metric]:
    """How long revokes waited for the other processes (Redis feed only)."""
    waits: dict[str, Durations] | None = getattr(auth.feed, "waits", None)
    if waits is None:
        return
    family = HistogramMetricFamily(
        f"{PREFIX}_feed_announce_wait_seconds",
        "From a revoke's publish to its return: every member acknowledged, a silent member's "
        "lease ran out, or Redis did not take it (503).",
        labels=["outcome"],
    )
    for outcome, durations in sorted(waits.items()):
        buckets = _cumulative(durations.bounds, durations.buckets)
        family.add_metric([str(outcome)], buckets, sum_value=durations.total)
    yield family
    yield GaugeMetricFamily(
        f"{PREFIX}_feed_trusting",
        "1 while this process's lease holds and its memory may answer checks.",
        value=1.0 if getattr(auth.feed, "trusting", False) else 0.0,
    )


def _cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    """Per-bucket counts (the last one +Inf) as Prometheus's cumulative ``le`` buckets."""
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append((_bound(bound), float(cumulative)))
    return buckets


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def build_registry(auth: AuthCore) -> CollectorRegistry:
    """A registry holding only this instance's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SessionJWTCollector(auth))
    return registry
