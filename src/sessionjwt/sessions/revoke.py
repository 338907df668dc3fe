"""Revocation: store, then local liveness state, then the invalidation feed — in that order.

The store write is the decision: if it cannot be made durable the caller gets
:class:`~sessionjwt.errors.StoreUnavailable` and nothing is reported as revoked. Only after
the commit is the local state updated and the feed bumped, both before the call returns, so
every request check that starts after a revoke returned refuses the session.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from sessionjwt.audit.trail import AuditEvent, AuditEventType
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, storable
from sessionjwt.errors import SessionNotFound, UserNotFound
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.liveness.feed import Invalidation, InvalidationFeed
from sessionjwt.sessions.store import SessionStore


class RevokeReason(StrEnum):
    LOGOUT = "logout"
    USER_REVOKED = "user_revoked"
    ADMIN_REVOKED = "admin_revoked"
    REFRESH_REUSE = "refresh_reuse"
    OAUTH_REVOKE = "oauth_revoke"  # RFC 7009 POST /oauth/revoke, by the token's holder
    PROVIDER_LOGOUT = "provider_logout"  # the identity provider's back-channel logout
    API_KEY_DELETED = "api_key_deleted"  # its owner (or an administrator) deleted an API key


class Revoker:
    def __init__(
        self, store: SessionStore, cache: LivenessCache, feed: InvalidationFeed, clock: Clock
    ) -> None:
        self._store = store
        self._cache = cache
        self._feed = feed
        self._clock = clock
        # For metrics: sessions newly ended, by reason (a user-wide sign-out counts once).
        self.revocations: Counter[str] = Counter()
        self.reuse_detections = 0  # replayed refresh tokens, even of an already ended session

    async def user_changed(self, user_id: str) -> None:
        """The user's roles changed: every process re-reads the user before its next check."""
        self._cache.forget_user(user_id)
        await self._feed.announce(Invalidation("user", user_id))

    # -- the key keeper's feed (sessionjwt.keys.rotation.KeyChangeFeed) ----------------------

    def forget_every_session(self) -> None:
        self._cache.clear()

    async def announce_every_session_revoked(self) -> None:
        await self._feed.announce(Invalidation("global", "emergency"))

    async def announce_key_change(self) -> None:
        await self._feed.announce(Invalidation("keys", ""))

    async def revoke_session(
        self,
        session_id: str,
        *,
        reason: RevokeReason,
        user_id: str | None = None,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """Revoke one session; with ``user_id``, only if that user owns it (else 404).

        Returns False when it was already revoked (idempotent), True when revoked now.
        """
        if reason is RevokeReason.REFRESH_REUSE:
            self.reuse_detections += 1
        now = storable(self._clock.now())
        client = client or ClientInfo()
        event_type = (
            AuditEventType.LOGOUT
            if reason is RevokeReason.LOGOUT
            else AuditEventType.REFRESH_REUSE_DETECTED
            if reason is RevokeReason.REFRESH_REUSE
            else AuditEventType.API_KEY_DELETED
            if reason is RevokeReason.API_KEY_DELETED
            else AuditEventType.SESSION_REVOKED
        )
        event = AuditEvent(
            event_type,
            at=now,
            user_id=user_id,
            session_id=session_id,
            actor=actor,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={"reason": str(reason)},
        )
        changed = await self._store.revoke(session_id, str(reason), now, [event], user_id=user_id)
        if not changed and user_id is not None:
            loaded = await self._store.load(session_id)
            if loaded is None or loaded[0].user_id != user_id:
                raise SessionNotFound()
        if changed:
            self.revocations[str(reason)] += 1
        self._cache.mark_revoked(session_id, now, str(reason))
        # Announced even when it was already revoked: retrying a revoke whose announcement
        # failed must be able to complete it.
        await self._feed.announce(Invalidation("session", session_id, reason=str(reason)))
        return changed

    async def revoke_user_sessions(
        self,
        user_id: str,
        *,
        keep_session_id: str | None = None,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Sign out everywhere (optionally but the caller's session): one write, any count."""
        now = storable(self._clock.now())
        client = client or ClientInfo()
        event = AuditEvent(
            AuditEventType.SIGN_OUT_EVERYWHERE,
            at=now,
            user_id=user_id,
            session_id=keep_session_id,
            actor=actor,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={"kept_session": keep_session_id is not None},
        )
        generation = await self._store.end_user_sessions(
            user_id, [event], keep_session_id=keep_session_id
        )
        if generation is None:
            raise UserNotFound()
        await self.signed_out(user_id, generation, keep_session_id)

    async def signed_out(
        self, user_id: str, generation: int, keep_session_id: str | None = None
    ) -> None:
        """After a committed watermark move (sign-out-everywhere, a password reset): this
        process's memory, then every other's."""
        self.revocations["sign_out_everywhere"] += 1
        self._cache.set_user_generation(user_id, generation, keep_session_id)
        await self._feed.announce(
            Invalidation("user", user_id, generation=generation, kept_session=keep_session_id)
        )

    async def set_user_disabled(
        self, user_id: str, disabled: bool, *, actor: str | None = None
    ) -> None:
        now = storable(self._clock.now())
        event = AuditEvent(
            AuditEventType.USER_DISABLED if disabled else AuditEventType.USER_ENABLED,
            at=now,
            user_id=user_id,
            actor=actor,
        )
        generation = await self._store.set_disabled(user_id, disabled, now, [event])
        if generation is None:
            raise UserNotFound()
        if disabled:
            self.revocations["user_disabled"] += 1
        self._cache.set_user_disabled(user_id, disabled, generation)
        await self._feed.announce(
            Invalidation("user", user_id, generation=generation, disabled=disabled)
        )
