"""Sessions: start one for an authenticated user, refresh it, list a user's, and end them.
Every ending goes through the :class:`Revoker`, so it is durable, local and announced
before the call returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.principal import Principal
from sessionjwt.sessions.issue import SessionIssuer, TokenPair
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.model import SessionRecord
from sessionjwt.sessions.refresh import Refresher
from sessionjwt.sessions.revoke import Revoker, RevokeReason
from sessionjwt.sessions.store import SessionStore
from sessionjwt.settings import Settings
from sessionjwt.support.ratelimit import Throttle
from sessionjwt.tokens.refresh_token import SuccessorChain


class Sessions:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        store: SessionStore,
        cache: LivenessCache,
        issuer: SessionIssuer,
        revoker: Revoker,
        throttle: Throttle,
        chain: Callable[[], SuccessorChain],
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._store = store
        self._cache = cache
        self._issuer = issuer
        self._revoker = revoker
        self._throttle = throttle
        self._chain = chain
        self._ready = ready

    async def issue(
        self,
        user_id: str,
        roles: tuple[str, ...],
        client: ClientInfo | None = None,
        scopes: Sequence[str] = (),
    ) -> TokenPair:
        """Start a new session for an authenticated user and mint its token pair (limited to
        ``scopes`` when the client asked for any)."""
        await self._ready()
        return await self._issuer.start(
            user_id=user_id,
            roles=roles,
            client=client or ClientInfo(),
            now=self._clock.now(),
            scopes=scopes,
        )

    async def refresh(self, refresh_token: str, client: ClientInfo | None = None) -> TokenPair:
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            limit = self._settings.refresh_rate_limit_ip
            await self._throttle.hit(limit, "refresh-ip", client.ip)
        refresher = Refresher(
            store=self._store,
            issuer=self._issuer,
            chain=self._chain(),
            revoker=self._revoker,
            cache=self._cache,
            clock=self._clock,
            grace_seconds=self._settings.refresh_grace.total_seconds(),
        )
        return await refresher.refresh(refresh_token, client)

    async def list_live(self, user_id: str) -> list[SessionRecord]:
        await self._ready()
        return await self._store.list_live(user_id, self._clock.now())

    async def owner_of(self, session_id: str) -> str | None:
        """The user id a session (live or not) belongs to, or None for an unknown id."""
        await self._ready()
        loaded = await self._store.load(session_id)
        return loaded[0].user_id if loaded is not None else None

    async def logout(self, principal: Principal, client: ClientInfo | None = None) -> None:
        await self.revoke(
            principal.session_id,
            user_id=principal.user_id,
            reason=RevokeReason.LOGOUT,
            actor=principal.user_id,
            client=client,
        )

    async def revoke(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        reason: RevokeReason = RevokeReason.ADMIN_REVOKED,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """Revoke one session (only ``user_id``'s, if given: else 404). Seen by the next check."""
        await self._ready()
        return await self._revoker.revoke_session(
            session_id, reason=reason, user_id=user_id, actor=actor, client=client
        )

    async def revoke_all_of_user(
        self,
        user_id: str,
        *,
        keep_session_id: str | None = None,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Sign out everywhere (but ``keep_session_id``): one write, whatever the count."""
        await self._ready()
        await self._revoker.revoke_user_sessions(
            user_id, keep_session_id=keep_session_id, actor=actor, client=client
        )

    async def set_user_disabled(
        self, user_id: str, disabled: bool = True, *, actor: str | None = None
    ) -> None:
        await self._ready()
        await self._revoker.set_user_disabled(user_id, disabled, actor=actor)
