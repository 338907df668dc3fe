"""The escalating-delay counts in Redis, shared by every instance (the ``redis`` extra).

One small hash per (account, address) pair — ``failures`` and ``last`` (clock time) — read
and claimed in a ``WATCH``/``MULTI`` transaction, Redis's own optimistic check-and-set, so
two instances cannot both admit an attempt the count no longer allows. ``limits`` has no
escalating-delay strategy, hence redis-py directly; ``EXPIRE`` only collects garbage.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from sessionjwt.accounts.backoff import BackoffPolicy
from sessionjwt.errors import StoreUnavailable

MAX_TRANSACTION_ATTEMPTS = 5
logger = logging.getLogger(__name__)


class RedisBackoff:
    """Shared by every instance. Any Redis error is a 503: never a per-process fallback."""

    def __init__(self, redis: Redis, policy: BackoffPolicy, prefix: str) -> None:
        self._redis = redis
        self._policy = policy
        self._prefix = prefix
        self._ttl = max(1, int(policy.forget_after + policy.cap))

    async def claim(self, key: str, now: float, *, at_cap: bool) -> float:
        name = f"{self._prefix}:{key}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for _ in range(MAX_TRANSACTION_ATTEMPTS):
                    try:
                        await pipe.watch(name)
                        stored = await pipe.hmget(name, "failures", "last")
                        failures = int(stored[0] or 0)
                        last = float(stored[1] or now)
                        if now - last >= self._policy.forget_after:
                            failures = 0
                        wait = self._policy.remaining(failures, last, now, at_cap=at_cap)
                        if wait > 0:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return wait
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.hset(name, mapping={"failures": failures + 1, "last": repr(now)})
                        pipe.expire(name, self._ttl)
                        await pipe.execute()
                        return 0.0
                    except WatchError:
                        continue  # another attempt on this pair got in first: decide again
        except RedisError as error:
            raise _unavailable(error) from error
        return 1.0  # persistent contention on one pair is a burst: ask it to come back

    async def reset(self, key: str) -> None:
        try:
            await self._redis.delete(f"{self._prefix}:{key}")
        except RedisError as error:
            raise _unavailable(error) from error


def _unavailable(cause: RedisError) -> StoreUnavailable:
    logger.warning("backoff store refused the attempt: %s: %s", type(cause).__name__, cause)
    return StoreUnavailable("The rate-limit store is unavailable; retry shortly.")
