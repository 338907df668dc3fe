"""Readiness: can this instance answer requests correctly right now?

Distinct from liveness (``/healthz``: the process runs). An instance is ready when the
database answers, Redis answers (if configured) and the invalidation feed can vouch for
memory. Each probe is bounded by ``timeout`` so a hung dependency reads as "not ready"
instead of hanging the orchestrator's probe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sessionjwt.db.engine import Database
from sessionjwt.sessions.liveness.feed import InvalidationFeed

if TYPE_CHECKING:
    from redis.asyncio import Redis

PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Readiness:
    """``checks`` maps each dependency to ``"ok"`` or what is wrong with it."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.checks.values())


class ReadinessProbe:
    def __init__(
        self,
        database: Database,
        feed: InvalidationFeed,
        redis_url: str | None,
        timeout: float = PROBE_TIMEOUT_S,
    ) -> None:
        self._database = database
        self._feed = feed
        self._redis_url = redis_url
        self._timeout = timeout
        self._redis: Redis | None = None

    async def probe(self) -> Readiness:
        """Every check at once, so the whole probe is bounded by ``timeout``."""
        states: dict[str, Awaitable[str]] = {"database": self._database_state()}
        if self._redis_url:
            states["redis"] = self._redis_state(self._redis_url)
        healthy_within = getattr(self._feed, "healthy_within", None)  # only Redis goes stale
        if healthy_within is not None:
            states["feed"] = self._feed_state(healthy_within)
        answers = await asyncio.gather(*states.values())
        return Readiness(dict(zip(states, answers, strict=True)))

    async def _feed_state(self, healthy_within: Callable[[float], Awaitable[bool]]) -> str:
        healthy = await healthy_within(self._timeout)
        return "ok" if healthy else "stale: no heartbeat heard recently"

    async def _database_state(self) -> str:
        try:
            answered = await asyncio.wait_for(self._database.ping(), self._timeout)
        except TimeoutError:
            return "timeout"
        return "ok" if answered else "unreachable"

    async def _redis_state(self, url: str) -> str:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(self._client(url).ping(), self._timeout)
        except TimeoutError:
            return "timeout"
        except (RedisError, OSError):
            return "unreachable"
        return "ok"

    def _client(self, url: str) -> Any:
        if self._redis is None:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(
                url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
        return self._redis

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
