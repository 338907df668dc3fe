"""What RFC 7662 introspection and RFC 7009 revocation decide, without a web framework.

Which kind of token it is follows from its shape: an access token is a compact JWS (two
dots), a refresh token is ``<sid>.<secret>`` (one dot). The two never overlap, so
``token_type_hint`` is not needed to find a token and is ignored (RFC 7009 §2.1 and RFC 7662
§2.1 both let the server search every type).

Introspection gives the same answer as the request check, because for access tokens it *is*
the request check: a revoke is visible to it at once, on every instance. A refresh token is
active only while it is its session's *current* one and the session is live; looking at it
never rotates it. When the store cannot answer, :class:`~sessionjwt.errors.StoreUnavailable`
propagates (503): ``active: false`` would tell a resource server that a live user was signed
out, ``active: true`` would let a revoked one in.

Revocation ends the session behind a *genuine* token only: an access token whose signature
and claims verify, or a refresh token from its session's chain. A forged token naming a real
session id, or a guessed refresh secret, revokes nothing (an attacker who knows a session id
must not be able to end it). Unknown, invalid and already-revoked tokens are not errors.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.errors import AuthenticationError, InvalidToken, SessionNotFound
from sessionjwt.principal import Principal
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.model import CLIENT_KIND, SessionRecord, UserState, liveness_error
from sessionjwt.sessions.refresh import MAX_CHAIN_WALK
from sessionjwt.sessions.revoke import Revoker, RevokeReason
from sessionjwt.sessions.store import SessionStore
from sessionjwt.tokens.access import AccessTokenCodec
from sessionjwt.tokens.refresh_token import SuccessorChain, hash_secret, parse_refresh_token

INACTIVE: dict[str, Any] = {"active": False}


def is_access_token_shaped(token: str) -> bool:
    return token.count(".") == 2


class TokenInspector:
    def __init__(
        self,
        *,
        codec: AccessTokenCodec,
        check: Callable[[str], Awaitable[Principal]],
        store: SessionStore,
        cache: LivenessCache,
        chain: SuccessorChain,
        revoker: Revoker,
        clock: Clock,
    ) -> None:
        self._codec = codec
        self._check = check
        self._store = store
        self._cache = cache
        self._chain = chain
        self._revoker = revoker
        self._clock = clock

    # -- RFC 7662 --------------------------------------------------------------------------

    async def introspect(self, token: str) -> dict[str, Any]:
        """The claims of a live token, or exactly ``{"active": False}``."""
        if is_access_token_shaped(token):
            return await self._introspect_access(token)
        return await self._introspect_refresh(token)

    async def _introspect_access(self, token: str) -> dict[str, Any]:
        try:
            claims = self._codec.verify(token, self._clock.now())
            # The request check itself: revocation, expiry, idle timeout, disabled user. It
            # also counts as activity, which it is: the user is using a resource server.
            principal = await self._check(token)
        except AuthenticationError:
            return dict(INACTIVE)
        policy = self._codec.policy
        answer: dict[str, Any] = {
            "active": True,
            "client_id": claims.client_id,
            "token_type": "Bearer",
            "exp": claims.exp,
            "iat": claims.iat,
            "sub": claims.sub,
            "aud": claims.aud,
            "iss": policy.issuer,
            "jti": claims.jti,
            "sid": claims.sid,
            "roles": list(principal.roles),  # as the session sees them now, not as minted
            # Which credential: "session" (a sign-in) or "client" (the client-credentials
            # grant), so a resource server restricts a client token even without scopes.
            "credential": principal.credential,
        }
        if principal.credential != CLIENT_KIND:  # a client token has no resource owner
            answer["username"] = principal.email
        if principal.scopes:
            answer["scope"] = " ".join(principal.scopes)
        return answer

    async def _introspect_refresh(self, token: str) -> dict[str, Any]:
        try:
            session_id, secret = parse_refresh_token(token)
        except InvalidToken:
            return dict(INACTIVE)
        loaded = await self._load(session_id)
        if loaded is None:
            return dict(INACTIVE)
        session, user = loaded
        # Only the current token is active: an ancestor, even within the concurrent-refresh
        # grace, is one step from being treated as theft.
        if not hmac.compare_digest(hash_secret(secret), session.refresh_hash):
            return dict(INACTIVE)
        if liveness_error(session, user, self._clock.now()) is not None:
            return dict(INACTIVE)
        policy = self._codec.policy
        return {
            "active": True,
            "client_id": policy.client_id,
            "username": user.email,
            "token_type": "refresh_token",
            "exp": int(session.expires_at),
            "iat": int(session.refresh_rotated_at or session.created_at),
            "sub": user.id,
            "iss": policy.issuer,
            "sid": session.id,
            **({"scope": session.scopes} if session.scopes else {}),
        }

    # -- RFC 7009 --------------------------------------------------------------------------

    async def revoke(
        self, token: str, *, actor: str | None = None, client: ClientInfo | None = None
    ) -> bool:
        """End the session behind a genuine token; True if it was live until now.

        ``actor`` defaults to the token's own user (a public client acting for its user)."""
        target = await self._session_of(token)
        if target is None:
            return False
        session_id, user_id = target
        try:
            return await self._revoker.revoke_session(
                session_id,
                reason=RevokeReason.OAUTH_REVOKE,
                user_id=user_id,
                actor=actor or user_id,
                client=client,
            )
        except SessionNotFound:  # deleted meanwhile: nothing left to revoke
            return False

    async def _session_of(self, token: str) -> tuple[str, str] | None:
        """(session id, user id) named by a genuine token, or None. Never trusts a bad one."""
        if is_access_token_shaped(token):
            try:
                claims = self._codec.verify(token, self._clock.now())
            except AuthenticationError:
                return None
            return claims.sid, claims.sub
        try:
            session_id, secret = parse_refresh_token(token)
        except InvalidToken:
            return None
        loaded = await self._load(session_id)
        if loaded is None:
            return None
        session, _user = loaded
        # Any genuine member of the chain will do: replaying an old one at /auth/refresh
        # revokes the session anyway, so accepting it here grants nothing new.
        behind = self._chain.generations_behind(
            session_id,
            secret,
            session.refresh_hash,
            max_steps=min(session.refresh_generation, MAX_CHAIN_WALK),
        )
        return None if behind is None else (session.id, session.user_id)

    async def _load(self, session_id: str) -> tuple[SessionRecord, UserState] | None:
        loaded = await self._store.load(session_id)
        if loaded is None or loaded[0].id != session_id:
            return None
        session, user = loaded
        cached = self._cache.sessions.get(session_id)
        if cached is not None:  # this process may have seen activity not yet flushed
            session.last_seen_at = max(session.last_seen_at, cached.session.last_seen_at)
        return session, user
