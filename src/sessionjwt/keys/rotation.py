"""Keeps this instance's key ring current and runs the rotation schedule.

Every instance holds the ring in memory (signing and verifying never touch the store) and
reloads it when told (a ``keys`` message from another instance, or a kid it has never seen,
at most once a second) and every ``key_ring_refresh`` as a backstop. Every instance also runs
the schedule; the store's conditional transitions make sure only one of them rotates.

Why publishing ahead matters: a verifier elsewhere caches our JWKS for ``max-age`` (a quarter
of ``key_publish_ahead``). The key that will sign next has been in the JWKS at least
``key_publish_ahead`` before it signs, so such a verifier never meets an unknown kid. Only the
emergency rotation skips this, on purpose: the old keys are presumed stolen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sessionjwt.audit.trail import AuditEvent, AuditEventType
from sessionjwt.clock import Clock, storable
from sessionjwt.errors import KeyOperationRefused, StoreUnavailable
from sessionjwt.keys.ring import KeyRing
from sessionjwt.keys.store import KeyInfo, KeyStore, Rotation
from sessionjwt.settings import Settings

logger = logging.getLogger("sessionjwt.keys")
RELOAD_FLOOR_S = 1.0  # unknown kids cannot make us read the store more often than this


class KeyChangeFeed(Protocol):
    """How a key change reaches every process. The revocation path implements it
    (:class:`sessionjwt.sessions.revoke.Revoker`), so the keys never import the session state."""

    def forget_every_session(self) -> None:
        """Drop this process's memory of live sessions (an emergency rotation)."""

    async def announce_every_session_revoked(self) -> None:
        """Tell every process that every earlier session is refused."""

    async def announce_key_change(self) -> None:
        """Tell every process to reload the key ring."""


class KeyRingKeeper:
    def __init__(
        self,
        store: KeyStore,
        settings: Settings,
        clock: Clock,
        feed: KeyChangeFeed,
        on_reload: Callable[[], None],
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._feed = feed
        self._on_reload = on_reload
        self._ring: KeyRing | None = None
        self._reloaded_at = -float("inf")
        self._lock = asyncio.Lock()

    @property
    def ring(self) -> KeyRing | None:
        return self._ring

    @property
    def _algorithm(self) -> str:
        return self._settings.signing_algorithm

    @property
    def _verify_for(self) -> float:
        """How long a key that stopped signing must still verify: its last token's life."""
        return (
            self._settings.access_token_ttl.total_seconds() + self._settings.leeway.total_seconds()
        )

    # -- loading ---------------------------------------------------------------------------

    async def load(self) -> KeyRing:
        ring = await self._store.load_ring(self._algorithm, self._clock.now())
        changed = self._ring is not None and _kids(ring) != _kids(self._ring)
        self._ring = ring
        self._reloaded_at = time.monotonic()
        if changed:
            self._on_reload()
        return ring

    async def reload(self, force: bool) -> bool:
        """Re-read the ring; unless ``force``, at most once per second. True if it did."""
        async with self._lock:
            if not force and time.monotonic() - self._reloaded_at < RELOAD_FLOOR_S:
                return False
            await self.load()
            return True

    # -- operations ------------------------------------------------------------------------

    async def list_keys(self) -> list[KeyInfo]:
        return await self._store.list_keys()

    async def rotate(
        self, *, revoke_all: bool = False, force: bool = False, actor: str | None = None
    ) -> Rotation:
        """Promote the published successor (or, with ``revoke_all``, contain a breach)."""
        now = storable(self._clock.now())
        if revoke_all:
            event = AuditEvent(AuditEventType.EMERGENCY_KEY_ROTATION, at=now, actor=actor)
            rotation = await self._store.emergency_rotate(self._algorithm, now, events=[event])
            self._feed.forget_every_session()
            await self.load()  # a changed ring forgets every verified token (on_reload)
            await self._feed.announce_every_session_revoked()
            await self._feed.announce_key_change()
            logger.warning("emergency key rotation: every earlier session and key refused")
            return rotation
        ring = self._ring or await self.load()
        upcoming = next((key for key in ring if key.state == "next"), None)
        ahead = self._settings.key_publish_ahead.total_seconds()
        if (
            not force
            and upcoming is not None
            and upcoming.created_at is not None
            and now - upcoming.created_at < ahead
        ):
            raise KeyOperationRefused(
                f"the next key {upcoming.kid} has been published for "
                f"{now - upcoming.created_at:.0f} s, less than key_publish_ahead ({ahead:.0f} s): "
                "verifiers caching the JWKS may not know it yet (force to rotate anyway)"
            )
        event = AuditEvent(AuditEventType.KEY_ROTATED, at=now, actor=actor)
        rotated = await self._store.rotate(self._algorithm, now, events=[event])
        if rotated is None:
            raise KeyOperationRefused("another instance rotated at the same moment; check keys")
        await self.load()
        await self._feed.announce_key_change()
        return rotated

    async def retire(self, kid: str, *, actor: str | None = None) -> None:
        now = storable(self._clock.now())
        event = AuditEvent(AuditEventType.KEY_RETIRED, at=now, actor=actor, detail={"kid": kid})
        await self._store.retire(kid, now, events=[event])
        await self.load()  # the ring changed: tokens verified with that key are judged again
        await self._feed.announce_key_change()

    # -- the schedule ----------------------------------------------------------------------

    async def tend(self) -> None:
        """One pass: retire keys whose tokens all expired, rotate when due, reload."""
        now = storable(self._clock.now())
        changed = bool(await self._store.retire_expired(now, self._verify_for))
        ring = self._ring or await self.load()
        interval = self._settings.key_rotation_interval.total_seconds()
        active = ring.active
        upcoming = next((key for key in ring if key.state == "next"), None)
        due = (
            interval > 0
            and active.activated_at is not None
            and now - active.activated_at >= interval
            and upcoming is not None
            and upcoming.created_at is not None
            and now - upcoming.created_at >= self._settings.key_publish_ahead.total_seconds()
        )
        if due:
            event = AuditEvent(AuditEventType.KEY_ROTATED, at=now, actor="schedule")
            rotated = await self._store.rotate(
                self._algorithm, now, expected_active=active.kid, events=[event]
            )
            changed = changed or rotated is not None
            if rotated is not None:
                logger.info("rotated signing key %s -> %s", active.kid, rotated.active_kid)
        await self.load()
        if changed:
            await self._feed.announce_key_change()

    async def tend_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.key_ring_refresh.total_seconds())
            try:
                await self.tend()
            except StoreUnavailable:
                logger.warning("key ring upkeep skipped: store unavailable")
            except Exception:
                logger.exception("key ring upkeep failed; retrying at the next interval")


def _kids(ring: KeyRing) -> tuple[frozenset[str], frozenset[str], str]:
    return frozenset(key.kid for key in ring), ring.retired, ring.active.kid
