"""Escalating delay between failed logins, per (account, client address) pair.

Why a pair and not the account: a delay keyed by the account alone is a lock the attacker
holds — keep failing from anywhere and the real user never gets a turn (ASVS 5.0 §6.3.1
forbids that). Keyed by the pair, an attacker's failures slow down only the attacker's own
address; the real user's address has its own count, so after at most ``cap`` (and at once if
they never failed) they can sign in while the attack goes on. A distributed attack is met by
the looser per-account ceiling in :mod:`sessionjwt.accounts.throttle`, which sends every failing
address straight to the cap but never refuses an address that has not failed.

After ``free_failures`` consecutive failures (typos) the wait is ``base``, doubling with each
further failure up to ``cap``. An attempt is *claimed*
(counted) before the password is verified and the count is cleared on success, so a burst of
parallel guesses fired the instant a wait ends gets one try, not one per request.

Time comes from the injected clock, stored with the count; Redis ``EXPIRE`` only collects
garbage. ``limits`` has no escalating-delay primitive (its strategies are fixed-size
windows), so the Redis store (:mod:`sessionjwt.accounts.backoff_redis`) is one small hash per pair.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

MAX_MEMORY_PAIRS = 100_000


@dataclass(frozen=True)
class BackoffPolicy:
    base: float
    cap: float
    forget_after: float  # a count with no failure for this long starts again from zero
    free_failures: int = 3  # typos: the first waits come only after this many failures

    def wait_after(self, failures: int, *, at_cap: bool = False) -> float:
        """How long after the last failure the next attempt must wait."""
        if failures <= 0:
            return 0.0
        if at_cap:
            return self.cap
        beyond = failures - self.free_failures
        if beyond < 0:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(beyond, 64))

    def remaining(self, failures: int, last: float, now: float, *, at_cap: bool) -> float:
        if now - last >= self.forget_after:
            return 0.0
        return max(0.0, self.wait_after(failures, at_cap=at_cap) - (now - last))


class BackoffStore(Protocol):
    async def claim(self, key: str, now: float, *, at_cap: bool) -> float:
        """Count an attempt and return 0, or return the seconds still to wait (not counted)."""

    async def reset(self, key: str) -> None:
        """Forget the pair's failures (after a successful login)."""


def pair_key(account: str, ip: str | None) -> str:
    """Digest, so that Redis keys and memory dumps hold no email addresses."""
    return hashlib.sha256(f"{account}\x00{ip or ''}".encode()).hexdigest()[:40]


class MemoryBackoff:
    """One process. The event loop serialises :meth:`claim` (it never awaits mid-way)."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self._policy = policy
        self._pairs: dict[str, tuple[int, float]] = {}

    async def claim(self, key: str, now: float, *, at_cap: bool) -> float:
        failures, last = self._pairs.get(key, (0, now))
        if now - last >= self._policy.forget_after:
            failures = 0
        wait = self._policy.remaining(failures, last, now, at_cap=at_cap)
        if wait > 0:
            return wait
        if len(self._pairs) >= MAX_MEMORY_PAIRS:
            self._forget_stale(now)
        self._pairs[key] = (failures + 1, now)
        return 0.0

    async def reset(self, key: str) -> None:
        self._pairs.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        horizon = now - self._policy.forget_after
        self._pairs = {key: value for key, value in self._pairs.items() if value[1] > horizon}
