"""Background upkeep: coalesced last-seen writes, and pruning of ended sessions and old audit
rows in bounded batches. Safe on several instances at once; a store outage only skips a round."""

from __future__ import annotations

import asyncio
import logging

from sessionjwt.audit.trail import AuditLog
from sessionjwt.check.request import RequestChecker
from sessionjwt.clock import Clock
from sessionjwt.errors import StoreUnavailable
from sessionjwt.sessions.store import SessionStore
from sessionjwt.settings import Settings

logger = logging.getLogger("sessionjwt")


class Maintenance:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        checker: RequestChecker,
        sessions: SessionStore,
        audit: AuditLog,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._checker = checker
        self._sessions = sessions
        self._audit = audit

    def start(self) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self._flush_last_seen_forever(), name="sessionjwt-last-seen"),
            asyncio.create_task(self._prune_forever(), name="sessionjwt-prune"),
        ]

    async def flush_last_seen(self) -> None:
        """Write the last-seen times the checks gathered; on failure keep them for next time."""
        dirty = self._checker.take_dirty_last_seen()
        try:
            await self._sessions.touch(dirty)
        except StoreUnavailable:
            for session_id, seen in dirty.items():
                current = self._checker.dirty_last_seen.get(session_id, 0.0)
                self._checker.dirty_last_seen[session_id] = max(current, seen)
            raise

    async def prune(self) -> tuple[int, int]:
        """Delete ended sessions and expired audit rows in bounded batches; (sessions, events)."""
        settings = self._settings
        now = self._clock.now()
        totals = [0, 0]
        jobs = (
            (0, self._sessions.prune_ended, now - settings.ended_session_retention.total_seconds()),
            (1, self._audit.prune, now - settings.audit_retention.total_seconds()),
        )
        for index, job, cutoff in jobs:
            while True:
                deleted = await job(cutoff, settings.prune_batch_size)
                totals[index] += deleted
                if deleted < settings.prune_batch_size:
                    break
                await asyncio.sleep(0)  # let requests in between batches
        return totals[0], totals[1]

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.prune_interval.total_seconds())
            try:
                sessions_deleted, events_deleted = await self.prune()
            except StoreUnavailable:
                logger.warning("pruning skipped: store unavailable")
                continue
            if sessions_deleted or events_deleted:
                logger.info(
                    "pruned %d ended sessions and %d audit events",
                    sessions_deleted,
                    events_deleted,
                )

    async def _flush_last_seen_forever(self) -> None:
        interval = max(1.0, self._settings.last_seen_resolution.total_seconds())
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush_last_seen()
            except StoreUnavailable:
                logger.warning("last-seen flush failed: store unavailable; will retry")
