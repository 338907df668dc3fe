"""Every defence in front of a password check, in the order a login meets them.

1. **Per client address**, all logins (``login_rate_limit_ip``): one address cannot spray
   many accounts.
2. **Per (account, address) pair**, an escalating delay (:mod:`sessionjwt.accounts.backoff`):
   guessing one account from one address slows down exponentially, up to ``login_backoff_cap``.
3. **Per account**, a looser ceiling of failures from all addresses together
   (``login_failures_per_account``): past it — a distributed attack — every address that
   fails waits the full cap from its first failure. It never refuses an address that has not
   failed, so it cannot lock the real user out; it only bounds how often each attacking
   address may guess. A browser holding a known-device token of the account (an earlier
   sign-in: :mod:`sessionjwt.accounts.known_devices`) is not held to the ceiling — only to
   limits 1 and 2 — so the real user's typo from a new address does not cost the full cap.

Only failures count (successes reset the pair), unknown and known accounts take exactly the
same path (no enumeration by timing or by throttle), and every refusal is a 429 with the
seconds to wait. Any store error is a 503: the counters never fall back to process memory.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from sessionjwt.accounts.backoff import BackoffPolicy, BackoffStore, MemoryBackoff, pair_key
from sessionjwt.clock import Clock
from sessionjwt.errors import RateLimited
from sessionjwt.settings import Settings
from sessionjwt.support.ratelimit import Throttle

Closer = Callable[[], Awaitable[None]]

ACCOUNT_SCOPE = "login-account"
IP_SCOPE = "login-ip"
BACKOFF_SCOPE = "login-backoff"  # this (account, address) pair failed too often lately


class LoginThrottle:
    def __init__(
        self,
        *,
        throttle: Throttle,
        backoff: BackoffStore,
        clock: Clock,
        ip_limit: str,
        account_ceiling: str,
    ) -> None:
        self._throttle = throttle
        self._backoff = backoff
        self._clock = clock
        self._ip_limit = ip_limit
        self._ceiling = account_ceiling

    async def admit(self, account: str, ip: str | None, *, known_device: bool = False) -> None:
        """Let one attempt through (and count it), or raise :class:`RateLimited`.
        ``known_device``: the attempt carries a valid known-device token of ``account``, so
        the per-account ceiling does not apply to it (the other two limits do)."""
        if ip:
            await self._throttle.hit(self._ip_limit, IP_SCOPE, ip)
        under_attack = not known_device and not await self._throttle.allows(
            self._ceiling, ACCOUNT_SCOPE, account
        )
        wait = await self._backoff.claim(
            pair_key(account, ip), self._clock.now(), at_cap=under_attack
        )
        if wait > 0:
            # Counted for metrics with the throttle's own refusals, by what stopped it.
            self._throttle.refusals[ACCOUNT_SCOPE if under_attack else BACKOFF_SCOPE] += 1
            raise RateLimited(math.ceil(wait))

    async def failed(self, account: str) -> None:
        """A wrong password: the pair is already counted; count it against the account too."""
        await self._throttle.count(self._ceiling, ACCOUNT_SCOPE, account)

    async def succeeded(self, account: str, ip: str | None) -> None:
        """The password matched: this address starts again from no failures."""
        await self._backoff.reset(pair_key(account, ip))


def build_throttles(
    settings: Settings, clock: Clock, throttle_storage: str | None
) -> tuple[Throttle, LoginThrottle, list[Closer]]:
    """The rate limits and the sign-in backoff: in memory for one process, in Redis (shared
    by every instance, never a per-process fallback) when ``redis_url`` is set."""
    policy = BackoffPolicy(
        base=settings.login_backoff_base.total_seconds(),
        cap=settings.login_backoff_cap.total_seconds(),
        forget_after=settings.login_backoff_forget.total_seconds(),
        free_failures=settings.login_backoff_free_failures,
    )
    closers: list[Closer] = []
    backoff: BackoffStore
    if throttle_storage is not None:
        throttle, backoff = Throttle(throttle_storage), MemoryBackoff(policy)
    elif settings.redis_url:
        from redis.asyncio import ConnectionPool, Redis

        from sessionjwt.accounts.backoff_redis import RedisBackoff

        timeout = settings.redis_timeout.total_seconds()
        pool = ConnectionPool.from_url(
            settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        throttle = Throttle(
            f"async+{settings.redis_url}",
            key_prefix=f"{settings.redis_namespace}:limits",
            implementation="redispy",
            wrap_exceptions=True,
            connection_pool=pool,
        )
        backoff = RedisBackoff(
            Redis(connection_pool=pool), policy, prefix=f"{settings.redis_namespace}:backoff"
        )
        closers.append(pool.disconnect)
    else:
        throttle, backoff = Throttle("async+memory://"), MemoryBackoff(policy)
    login_throttle = LoginThrottle(
        throttle=throttle,
        backoff=backoff,
        clock=clock,
        ip_limit=settings.login_rate_limit_ip,
        account_ceiling=settings.login_failures_per_account,
    )
    return throttle, login_throttle, closers
