"""Session and user records built by hand, for tests of the in-memory liveness cache that
need no store. Everything a test does not set is what a fresh, live session has."""

from __future__ import annotations

from sessionjwt.sessions.model import SessionRecord, UserState


def session_record(
    session_id: str,
    *,
    user_id: str,
    user_generation: int = 0,
    last_seen_at: float = 0,
    expires_at: float = 1000,
    idle_timeout: float = 1000,
) -> SessionRecord:
    """A live session of ``user_id``, created at time 0 and never refreshed."""
    return SessionRecord(
        id=session_id,
        user_id=user_id,
        created_at=0,
        authenticated_at=0,
        user_generation=user_generation,
        last_seen_at=last_seen_at,
        expires_at=expires_at,
        idle_timeout=idle_timeout,
        revoked_at=None,
        revoked_reason=None,
        user_agent=None,
        ip=None,
        refresh_hash="",
        refresh_generation=0,
        refresh_rotated_at=None,
    )


def user_state(user_id: str, *, session_generation: int = 0) -> UserState:
    """An enabled user without roles, at watermark ``session_generation``."""
    return UserState(
        id=user_id,
        email=f"{user_id}@example.com",
        roles=(),
        disabled=False,
        session_generation=session_generation,
    )
