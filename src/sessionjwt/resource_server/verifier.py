"""``ResourceServer``: what another service holds to trust sessionjwt's access tokens.

Read :meth:`ResourceServer.check` top to bottom as the data flow: the token is verified locally
against the issuer's published keys, with the issuer's own decode policy and error codes
(:class:`~sessionjwt.tokens.access.AccessTokenVerifier`); an unknown ``kid`` refetches the JWKS
once (floored); then the session behind it is judged live by introspection or by memory kept
current by the Redis feed (:mod:`.liveness`). Every failure to decide is a 503, never a 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.requests import HTTPConnection

from sessionjwt.clock import Clock, SystemClock
from sessionjwt.errors import InsufficientRole, InsufficientScope, TokenExpired, UnknownSigningKey
from sessionjwt.principal import Principal
from sessionjwt.resource_server.config import ResourceServerConfig
from sessionjwt.resource_server.introspection import IntrospectionClient
from sessionjwt.resource_server.jwks import RemoteKeySet
from sessionjwt.resource_server.liveness import (
    FeedLiveness,
    IntrospectionLiveness,
    Liveness,
    SessionMemory,
)
from sessionjwt.tokens.access import AccessTokenPolicy, AccessTokenVerifier
from sessionjwt.tokens.claims import AccessClaims
from sessionjwt.web.credentials import bearer_token, current_principal


class ResourceServer:
    """Verifies bearer tokens issued by a sessionjwt service, and checks their sessions."""

    def __init__(
        self,
        config: ResourceServerConfig,
        *,
        clock: Clock | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(
            timeout=config.http_timeout, trust_env=config.trust_env, follow_redirects=False
        )
        self.jwks = RemoteKeySet(
            config.resolved_jwks_url,
            self.http,
            refetch_floor=config.jwks_refetch_floor,
            keys_message_floor=config.jwks_keys_message_floor,
            default_max_age=config.jwks_default_max_age,
            max_refresh_interval=config.jwks_max_refresh_interval,
            max_bytes=config.jwks_max_bytes,
        )
        self.verifier = AccessTokenVerifier(
            AccessTokenPolicy(
                issuer=config.issuer,
                audience=config.audience,
                client_id="",  # not checked when verifying
                ttl_seconds=0,  # not used when verifying
                leeway_seconds=config.leeway,
                max_token_bytes=config.max_token_bytes,
            ),
            keys=self.jwks.current,
        )
        self.introspection = IntrospectionClient(
            config.resolved_introspection_url,
            config.client_id,
            config.client_secret,
            self.http,
            issuer=config.issuer,
            audience=config.audience,
        )
        self.liveness: Liveness = self._build_liveness()
        self._verified: dict[str, AccessClaims] = {}
        self._verified_version = 0
        self._started = False
        self._start_lock = asyncio.Lock()

    def _build_liveness(self) -> Liveness:
        config = self.config
        if config.liveness == "redis" and config.redis_url:
            from sessionjwt.sessions.liveness.redis_feed import RedisFeed

            memory = SessionMemory(self.jwks.keys_changed, config.max_entries)
            feed = RedisFeed(
                config.redis_url,
                memory,
                channel=config.channel,
                heartbeat=config.feed_heartbeat,
                stale_after=config.feed_stale_after,
            )
            return FeedLiveness(self.introspection, memory, feed)
        return IntrospectionLiveness(
            self.introspection,
            ttl=config.introspection_cache_ttl,
            max_entries=config.max_entries,
        )

    # -- the check -------------------------------------------------------------------------

    async def check(self, token: str) -> Principal:
        """The live principal behind ``token``; raises a :class:`SessionJWTError` otherwise."""
        await self.start()
        claims = await self.verify(token)
        return await self.liveness.principal(token, claims)

    async def verify(self, token: str) -> AccessClaims:
        """Local verification only (signature, header policy, claims): no liveness."""
        now = self.clock.now()
        if self.jwks.version != self._verified_version:  # keys changed: re-verify everything
            self._verified = {}
            self._verified_version = self.jwks.version
        claims = self._verified.get(token)
        if claims is not None:
            if now >= claims.exp + self.config.leeway:
                del self._verified[token]
                raise TokenExpired()
            return claims
        try:
            claims = self.verifier.verify(token, now)
        except UnknownSigningKey:
            await self.jwks.refresh_for_unknown_kid()  # floored; may raise StoreUnavailable
            claims = self.verifier.verify(token, now)  # still unknown → refused, no refetch
        size = self.config.verified_token_cache_size
        if size:
            if len(self._verified) >= size:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        return claims

    # -- framework faces -------------------------------------------------------------------

    async def principal(self, connection: HTTPConnection) -> Principal:
        """FastAPI dependency: ``Depends(rs.principal)``. Reuses the middleware's answer."""
        checked = current_principal(connection)
        if checked is not None:
            return checked
        return await self.check(bearer_token(connection))

    def require_roles(self, *roles: str) -> Callable[[HTTPConnection], Awaitable[Principal]]:
        """A dependency yielding the principal only if it has every role (else 403)."""
        required = tuple(roles)

        async def with_roles(connection: HTTPConnection) -> Principal:
            principal = await self.principal(connection)
            if not principal.has_roles(*required):
                raise InsufficientRole()
            return principal

        return with_roles

    def require_scopes(self, *scopes: str) -> Callable[[HTTPConnection], Awaitable[Principal]]:
        """A dependency yielding the principal only if its token holds every scope (403
        ``insufficient_scope`` with RFC 6750's ``WWW-Authenticate`` otherwise). Scopes are the
        issuer's current answer: a session that asked for none is full-access; a service
        client's token (client credentials) has exactly the scopes it was granted."""
        required = tuple(scopes)

        async def with_scopes(connection: HTTPConnection) -> Principal:
            principal = await self.principal(connection)
            if not principal.has_scopes(*required):
                raise InsufficientScope(scopes=required)
            return principal

        return with_scopes

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Fetch the keys and subscribe to the feed; idempotent, and lazy if you forget."""
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            await self.jwks.start()
            await self.liveness.start()
            self._started = True

    async def close(self) -> None:
        """Stop the background work and release the HTTP client this object created (one
        passed in is the caller's to close). Call once, at shutdown."""
        await self.liveness.close()
        await self.jwks.close()
        if self._own_http:
            await self.http.aclose()
        self._started = False

    async def __aenter__(self) -> ResourceServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Pass as ``FastAPI(lifespan=rs.lifespan)``."""
        await self.start()
        try:
            yield
        finally:
            await self.close()
