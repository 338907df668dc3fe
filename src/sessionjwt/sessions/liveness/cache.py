"""The in-process liveness state: session and user records the request check reads without I/O.

It is not a TTL cache. An entry stays exactly as long as nothing could have changed it
unseen: local writes update it in place, and any write from elsewhere (another process, the
CLI) arrives through an invalidation feed that clears it (see :mod:`.epoch`). Loads race
with writes, so every insert carries the generation seen before its load started and is
dropped if anything was invalidated meanwhile: a stale "live" answer can never be stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionjwt.principal import Principal
from sessionjwt.sessions.liveness.feed import Invalidation
from sessionjwt.sessions.model import SessionRecord, UserState


@dataclass(slots=True)
class LiveEntry:
    session: SessionRecord
    user: UserState
    principal: Principal


def principal_of(session: SessionRecord, user: UserState) -> Principal:
    """Who a live session (or API key) speaks for: the user row's roles, the session's
    credential kind and scopes."""
    return Principal(
        user.id,
        user.email,
        user.roles,
        session.id,
        user.email_verified,
        session.methods,
        session.kind,
        session.scope_values,
    )


class LivenessCache:
    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self.generation = 0
        self.sessions: dict[str, LiveEntry] = {}
        self._users: dict[str, UserState] = {}

    def __len__(self) -> int:
        return len(self.sessions)

    def put(self, session: SessionRecord, user: UserState, generation: int) -> LiveEntry | None:
        """Store a freshly loaded pair unless anything was invalidated since ``generation``."""
        if generation != self.generation:
            return None
        shared = self._users.get(user.id)
        if shared is None:
            shared = self._users[user.id] = user
        else:
            # Same generation: the fresh row is at least as new as what we hold.
            shared.email, shared.roles = user.email, user.roles
            shared.disabled, shared.session_generation = user.disabled, user.session_generation
            shared.deployment_generation = user.deployment_generation
            shared.email_verified = user.email_verified
        if len(self.sessions) >= self.max_entries:
            del self.sessions[next(iter(self.sessions))]
        entry = LiveEntry(session, shared, principal_of(session, user))
        self.sessions[session.id] = entry
        return entry

    def _bump(self) -> None:
        self.generation += 1

    def mark_revoked(self, session_id: str, now: float, reason: str) -> None:
        self._bump()
        entry = self.sessions.get(session_id)
        if entry is not None:
            entry.session.revoked_at = now
            entry.session.revoked_reason = reason

    def set_user_generation(
        self, user_id: str, generation: int, keep_session_id: str | None = None
    ) -> None:
        self._bump()
        user = self._users.get(user_id)
        if user is not None:
            user.session_generation = generation
        if keep_session_id is not None and (kept := self.sessions.get(keep_session_id)):
            kept.session.user_generation = generation

    def set_user_disabled(self, user_id: str, disabled: bool, generation: int) -> None:
        self._bump()
        user = self._users.get(user_id)
        if user is not None:
            user.disabled = disabled
            user.session_generation = generation

    def forget_user(self, user_id: str) -> None:
        """Another process changed this user: every session of theirs reloads (O(1) here)."""
        self._bump()
        user = self._users.pop(user_id, None)
        if user is not None:
            user.stale = True

    def apply(self, change: Invalidation, now: float) -> None:
        """Apply another process's write: in place where it only narrows access, else forget."""
        if change.kind == "session":
            self.mark_revoked(change.id, now, change.reason)
            return
        if change.kind == "global":
            self.clear()  # an emergency ended every earlier session: reload all from the store
            return
        if change.kind == "keys":
            self._bump()  # nothing of liveness changed; the feed tells the key ring
            return
        if change.generation is None or change.disabled is False:
            self.forget_user(change.id)  # re-enabled or roles changed: the store decides
            return
        user = self._users.get(change.id)
        if user is None or change.generation < user.session_generation:
            self._bump()  # nothing held, or already newer: only stop in-flight loads landing
        elif change.disabled:
            self.set_user_disabled(change.id, True, change.generation)
        else:
            self.set_user_generation(change.id, change.generation, change.kept_session)

    def forget_session(self, session_id: str) -> None:
        self._bump()
        self.sessions.pop(session_id, None)

    def clear(self) -> None:
        self._bump()
        self.sessions = {}
        self._users = {}
