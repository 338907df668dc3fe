"""Refresh: rotate the refresh token on every use, detect replays, never fork a chain.

Decision table for a presented ``<sid>.<secret>`` (see :mod:`sessionjwt.tokens.refresh_token`):

=====================  ==============================================================
secret is…             outcome
=====================  ==============================================================
not from this chain    401 ``invalid_token``; the session is untouched (a bad token
                       never revokes the session it names)
current                compare-and-swap to its successor; exactly one caller wins
one behind, in grace   the same successor the winner got (concurrent refresh)
older, or out of grace 401 ``refresh_token_reused``; the session is revoked and audited
=====================  ==============================================================
"""

from __future__ import annotations

from sessionjwt.audit.trail import AuditEvent, AuditEventType
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.errors import InvalidToken, RefreshTokenReused
from sessionjwt.sessions.issue import SessionIssuer, TokenPair
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.model import SESSION_KIND, SessionRecord, UserState, liveness_error
from sessionjwt.sessions.revoke import Revoker, RevokeReason
from sessionjwt.sessions.store import SessionStore
from sessionjwt.tokens.refresh_token import SuccessorChain, hash_secret, parse_refresh_token

MAX_CHAIN_WALK = 10_000
MAX_CAS_ATTEMPTS = 3


class Refresher:
    def __init__(
        self,
        *,
        store: SessionStore,
        issuer: SessionIssuer,
        chain: SuccessorChain,
        revoker: Revoker,
        cache: LivenessCache,
        clock: Clock,
        grace_seconds: float,
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._chain = chain
        self._revoker = revoker
        self._cache = cache
        self._clock = clock
        self._grace = grace_seconds

    async def refresh(self, refresh_token: str, client: ClientInfo | None = None) -> TokenPair:
        client = client or ClientInfo()
        session_id, secret = parse_refresh_token(refresh_token)
        for _ in range(MAX_CAS_ATTEMPTS):
            now = self._clock.now()
            session, user = await self._load(session_id)
            behind = self._chain.generations_behind(
                session_id,
                secret,
                session.refresh_hash,
                max_steps=min(session.refresh_generation, MAX_CHAIN_WALK),
            )
            if behind is None:
                raise InvalidToken("The refresh token is not valid.")
            if (error := liveness_error(session, user, now)) is not None:
                raise error
            if behind == 0:
                successor = self._chain.successor(session_id, secret)
                event = AuditEvent(
                    AuditEventType.REFRESH,
                    at=now,
                    user_id=user.id,
                    session_id=session_id,
                    actor=user.id,
                    ip=client.ip,
                    user_agent=client.user_agent,
                    detail={"generation": session.refresh_generation + 1},
                )
                if await self._store.rotate_refresh(
                    session_id, session.refresh_hash, hash_secret(successor), now, [event]
                ):
                    self._note_activity(session_id, now)
                    return self._issuer.mint(session, user.roles, successor, now)
                continue  # lost the race: reload and decide again (normally: the grace case)
            if behind == 1 and self._in_grace(session, now):
                # A concurrent refresh won the swap a moment ago: hand back the same successor.
                successor = self._chain.successor(session_id, secret)
                return self._issuer.mint(session, user.roles, successor, now)
            await self._revoker.revoke_session(
                session_id,
                reason=RevokeReason.REFRESH_REUSE,
                user_id=user.id,
                actor="system",
                client=client,
            )
            raise RefreshTokenReused()
        raise InvalidToken("The refresh token could not be rotated; retry.")

    async def _load(self, session_id: str) -> tuple[SessionRecord, UserState]:
        loaded = await self._store.load(session_id)
        if loaded is None:
            raise InvalidToken("The refresh token is not valid.")
        session, user = loaded
        if session.kind != SESSION_KIND:  # an API key is never refreshed (its hash is unusable)
            raise InvalidToken("The refresh token is not valid.")
        cached = self._cache.sessions.get(session_id)
        if cached is not None:  # this process may have seen activity not yet flushed
            session.last_seen_at = max(session.last_seen_at, cached.session.last_seen_at)
        return session, user

    def _in_grace(self, session: SessionRecord, now: float) -> bool:
        rotated = session.refresh_rotated_at
        return rotated is not None and 0 <= now - rotated <= self._grace

    def _note_activity(self, session_id: str, now: float) -> None:
        cached = self._cache.sessions.get(session_id)
        if cached is not None:
            cached.session.last_seen_at = max(cached.session.last_seen_at, now)
