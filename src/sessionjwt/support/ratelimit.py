"""Login, registration and refresh throttles on the ``limits`` library.

In-memory storage by default (one process); with Redis the counters are shared by every
instance. If the shared storage cannot answer, the attempt is refused with 503 — counters
never fall back silently to per-process memory, which would multiply every limit by the
number of instances. Per-account limits count *failures* only, so a stranger cannot stop a
user who knows their password from signing in by merely trying.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from sessionjwt.errors import RateLimited, StoreUnavailable

logger = logging.getLogger(__name__)


class Throttle:
    def __init__(self, storage_uri: str = "async+memory://", **options: Any) -> None:
        storage = storage_from_string(storage_uri, **options)
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_uri!r} is not an async limits storage (use async+...)")
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(self._storage)
        # For metrics: refusals by limit name, the first part of the key ("login-ip", ...).
        self.refusals: Counter[str] = Counter()

    async def hit(self, limit: str, *key: str) -> None:
        """Count one attempt; raise :class:`RateLimited` if it is over ``limit``."""
        item = parse(limit)
        with _fail_closed():
            allowed = await self._limiter.hit(item, *key)
        if not allowed:
            self.refusals[key[0] if key else "-"] += 1
            raise RateLimited(await self._retry_after(item, key))

    async def ensure_under(self, limit: str, *key: str) -> None:
        """Refuse if ``limit`` is already used up for ``key``, without counting an attempt."""
        item = parse(limit)
        with _fail_closed():
            allowed = await self._limiter.test(item, *key)
        if not allowed:
            self.refusals[key[0] if key else "-"] += 1
            raise RateLimited(await self._retry_after(item, key))

    async def allows(self, limit: str, *key: str) -> bool:
        """Whether ``limit`` still has room for ``key``; counts nothing and refuses nothing."""
        with _fail_closed():
            return await self._limiter.test(parse(limit), *key)

    async def count(self, limit: str, *key: str) -> None:
        """Count one attempt without refusing (e.g. a failure after the work was done)."""
        with _fail_closed():
            await self._limiter.hit(parse(limit), *key)

    async def reset(self) -> None:
        await self._storage.reset()

    async def _retry_after(self, item: RateLimitItem, key: tuple[str, ...]) -> int:
        with _fail_closed():
            stats = await self._limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))


@contextmanager
def _fail_closed() -> Iterator[None]:
    try:
        yield
    except (StorageError, ConnectionError, OSError, TimeoutError) as error:
        # The cause is what an operator needs (timeout? refused? killed?); it names the
        # host at most, never a credential or a counter key.
        cause = error.__cause__ or error
        logger.warning("rate-limit store refused the attempt: %s: %s", type(cause).__name__, cause)
        raise StoreUnavailable("The rate-limit store is unavailable; retry shortly.") from error
