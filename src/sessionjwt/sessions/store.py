"""The session store seam: the source of truth every cache answers to.

Every write takes the audit events that describe it and commits them in the same
transaction. Methods that change state return whether they changed anything, so callers can
tell "revoked now" from "was already revoked".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sessionjwt.audit.trail import AuditEvent
from sessionjwt.sessions.model import SESSION_KIND, SessionRecord, UserState


class SessionStore(Protocol):
    async def create(self, session: SessionRecord, events: Sequence[AuditEvent] = ()) -> None: ...

    async def load(self, session_id: str) -> tuple[SessionRecord, UserState] | None: ...

    async def rotate_refresh(
        self,
        session_id: str,
        expected_hash: str,
        new_hash: str,
        now: float,
        events: Sequence[AuditEvent] = (),
    ) -> bool:
        """Compare-and-swap the refresh hash; True only for the one caller that won."""
        ...

    async def revoke(
        self,
        session_id: str,
        reason: str,
        now: float,
        events: Sequence[AuditEvent] = (),
        *,
        user_id: str | None = None,
    ) -> bool: ...

    async def end_user_sessions(
        self,
        user_id: str,
        events: Sequence[AuditEvent] = (),
        *,
        keep_session_id: str | None = None,
    ) -> int | None:
        """Advance the user's session generation (the watermark): one write, whatever the
        session count. Returns the new generation, or None if there is no such user."""
        ...

    async def set_disabled(
        self, user_id: str, disabled: bool, now: float, events: Sequence[AuditEvent] = ()
    ) -> int | None:
        """Returns the user's (possibly advanced) session generation, or None if no user."""
        ...

    async def reauthenticated(
        self, session_id: str, now: float, events: Sequence[AuditEvent] = ()
    ) -> bool:
        """Record a fresh password check on a live session; False if it has ended."""
        ...

    async def stepped_up(
        self,
        session_id: str,
        now: float,
        amr: str,
        events: Sequence[AuditEvent] = (),
        *,
        user_id: str | None = None,
    ) -> bool:
        """Record a fresh second factor on a live session (of ``user_id``, if given): its
        ``amr`` becomes ``amr`` and it counts as freshly authenticated; False if it ended."""
        ...

    async def list_live(
        self, user_id: str, now: float, kind: str = SESSION_KIND
    ) -> list[SessionRecord]:
        """The user's live sessions of ``kind`` (sign-ins by default; ``api_key``: keys)."""
        ...

    async def prune_ended(self, ended_before: float, batch_size: int) -> int:
        """Delete up to ``batch_size`` sessions that expired or were revoked before
        ``ended_before``; returns how many (bounded, so one call never holds locks long)."""
        ...

    async def touch(self, last_seen: Mapping[str, float]) -> None:
        """Persist coalesced last-seen times (never moves one backwards)."""
        ...
