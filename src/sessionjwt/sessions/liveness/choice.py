"""Which feed tells other processes about a revoke, chosen from the settings — and the set-ups
refused because they would silently weaken the promise."""

from __future__ import annotations

from sessionjwt.db.engine import is_sqlite, sqlite_path
from sessionjwt.errors import ConfigurationError
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.liveness.epoch import LocalEpoch, SharedEpoch
from sessionjwt.sessions.liveness.feed import InvalidationFeed
from sessionjwt.settings import Settings


def build_feed(settings: Settings, cache: LivenessCache) -> InvalidationFeed:
    """Pick how revokes reach other processes; refuse set-ups that would silently weaken it."""
    url = settings.resolved_database_url
    mode = settings.invalidation
    if mode == "auto":
        if settings.redis_url:
            mode = "redis"
        elif is_sqlite(url):
            mode = "host"
        else:
            raise ConfigurationError(
                "a shared database without Redis cannot tell other hosts about a revoke: set "
                "SESSIONJWT_REDIS_URL, or SESSIONJWT_INVALIDATION=host to confirm that every "
                "instance runs on this one host"
            )
    if mode == "redis" and settings.redis_url:
        from sessionjwt.sessions.liveness.redis_feed import RedisFeed

        return RedisFeed(
            settings.redis_url,
            cache,
            channel=f"{settings.redis_namespace}:invalidations",
            heartbeat=settings.feed_heartbeat.total_seconds(),
            stale_after=settings.feed_stale_after.total_seconds(),
        )
    if is_sqlite(url) and sqlite_path(url) is None:
        return LocalEpoch()
    return SharedEpoch(settings.epoch_file)
