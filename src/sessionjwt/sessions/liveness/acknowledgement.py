"""When may a revoke return? The rule that makes "refused by the very next request" exact.

A revoke is announced on the invalidation channel. Every other live process (a *member*) must
either have applied it, or be answering from the store rather than memory, before the revoke
call returns. Two facts make that decidable without trusting anyone's clock but Redis's:

* **Leases.** A member trusts its memory only within ``lease`` of *sending* a heartbeat that
  it has since heard back on the channel. Redis delivers one channel's messages to a
  subscriber in the order it processed them, so a member that heard a heartbeat processed
  after the revoke has applied the revoke. A member that has not applied it therefore stops
  trusting memory no later than ``lease`` after the revoke was processed.
* **A registry.** The heartbeat that renews a lease also renews the member's entry in a
  Redis sorted set, atomically with the publish, scored by when it expires on Redis's clock
  (at least as late as the lease). The revoke is published in the same script that reads the
  registry, so the list it gets back holds every member that might still trust memory.

So the revoker waits for an acknowledgement from each listed member (the fast path: about
one more hop through Redis) and, for any that stays silent, until that member's lease has
run out since the publish returned (the bound). :class:`Announcement` is that decision, kept
free of I/O so that it can be tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from enum import StrEnum

# Clocks on two hosts tick at rates within a few hundred parts per million of each other:
# over a lease of at most a second that is well under a millisecond. A fixed margin covers
# it, and any delay between a member deciding to trust memory and reading it.
CLOCK_MARGIN_S = 0.005


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"  # every listed member applied it
    LEASE_EXPIRED = "lease_expired"  # some did not answer; their leases ran out instead
    UNANNOUNCED = "unannounced"  # Redis did not take it: durable, not announced (503)


def encode_registry_entry(member: str, lease: float) -> str:
    return f"{member}|{round(lease * 1000)}"


def decode_registry_entry(entry: str) -> tuple[str, float] | None:
    member, _, lease_ms = entry.rpartition("|")
    if not member or not lease_ms.isdigit():
        return None
    return member, int(lease_ms) / 1000


class Announcement:
    """One revoke in flight: who must acknowledge it, who has, and when waiting may stop."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._leases: dict[str, float] = {}  # member → its lease, for the ones not yet heard
        self._acknowledged: set[str] = set()  # heard before the member list was known
        self._published_at: float | None = None
        self._news = asyncio.Event()

    def published(self, members: Iterable[tuple[str, float]], at: float | None = None) -> None:
        """The publish returned, with the registry as Redis held it at that moment."""
        self._published_at = self._monotonic() if at is None else at
        self._leases = {
            member: lease for member, lease in members if member not in self._acknowledged
        }
        self._news.set()

    def acknowledged(self, member: str) -> None:
        self._acknowledged.add(member)
        self._leases.pop(member, None)
        self._news.set()

    def left(self, member: str) -> None:
        """The member left the membership (it stopped trusting memory before it said so)."""
        self.acknowledged(member)

    @property
    def waiting_for(self) -> frozenset[str]:
        return frozenset(self._leases)

    def outcome(self, now: float) -> Outcome | None:
        """The outcome if waiting may stop at ``now``, else None."""
        if self._published_at is None:
            return None
        if not self._leases:
            return Outcome.ACKNOWLEDGED
        if now >= self.deadline:
            return Outcome.LEASE_EXPIRED
        return None

    @property
    def deadline(self) -> float:
        """When every silent member's lease has run out since the publish returned."""
        if self._published_at is None:
            return float("inf")
        longest = max(self._leases.values(), default=0.0)
        return self._published_at + longest + CLOCK_MARGIN_S

    async def settled(self) -> Outcome:
        """Wait until :meth:`outcome` says the revoke may return."""
        while True:
            outcome = self.outcome(self._monotonic())
            if outcome is not None:
                return outcome
            self._news.clear()
            remaining = self.deadline - self._monotonic()
            timeout = None if remaining == float("inf") else max(remaining, 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), timeout=timeout)
