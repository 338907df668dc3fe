"""What resource servers call: registered clients, RFC 7662 introspection and RFC 7009
revocation. Revocation ends the session through the same Revoker as a logout."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.errors import ClientNotFound, InvalidClient, InvalidClientScopes
from sessionjwt.oauth.client_credentials import ClientCredentialsGrant, ClientToken
from sessionjwt.oauth.clients import ClientRecord, ClientRegistry, NewClient
from sessionjwt.oauth.inspector import TokenInspector
from sessionjwt.principal import Principal
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.revoke import Revoker
from sessionjwt.sessions.store import SessionStore
from sessionjwt.settings import Settings
from sessionjwt.support.ratelimit import Throttle
from sessionjwt.tokens.access import AccessTokenCodec
from sessionjwt.tokens.refresh_token import SuccessorChain
from sessionjwt.tokens.scopes import ScopeError, normalize_scopes


class TokenEndpoints:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        clients: ClientRegistry,
        codec: AccessTokenCodec,
        check: Callable[[str], Awaitable[Principal]],
        store: SessionStore,
        cache: LivenessCache,
        revoker: Revoker,
        throttle: Throttle,
        chain: Callable[[], SuccessorChain],
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._grant = ClientCredentialsGrant(
            codec=codec,
            store=store,
            clock=clock,
            ttl_seconds=int(settings.access_token_ttl.total_seconds()),
        )
        self._settings = settings
        self._clock = clock
        self._clients = clients
        self._codec = codec
        self._check = check
        self._store = store
        self._cache = cache
        self._revoker = revoker
        self._throttle = throttle
        self._chain = chain
        self._ready = ready

    async def create_client(
        self,
        name: str,
        *,
        actor: str | None = None,
        client_credentials: bool = False,
        scopes: Sequence[str] = (),
    ) -> NewClient:
        """Register a client; the secret in the result is never retrievable again.

        By default it is a resource server (introspection only); with ``client_credentials``
        it may also obtain its own tokens at ``/oauth/token``, limited to ``scopes``."""
        try:
            allowed = normalize_scopes(scopes)
        except ScopeError as error:
            raise InvalidClientScopes(str(error)) from error
        await self._ready()
        return await self._clients.create(
            name,
            self._clock.now(),
            actor=actor,
            client_credentials=client_credentials,
            scopes=allowed,
        )

    async def list_clients(self, *, include_deleted: bool = False) -> list[ClientRecord]:
        await self._ready()
        return await self._clients.list(include_deleted=include_deleted)

    async def delete_client(self, client_id: str, *, actor: str | None = None) -> None:
        """Refuse the client's credentials from its next call on (404 if no such client),
        and every token it obtained, on every instance, from the next request on.

        The service account is disabled first, through the Revoker (store, local memory,
        feed), then the client row is marked: a failure between the two leaves a client
        whose tokens are already refused and whose retried delete completes."""
        await self._ready()
        record = await self._clients.get(client_id)
        if record is None or record.deleted_at is not None:
            raise ClientNotFound()
        if record.service:
            await self._revoker.set_user_disabled(client_id, True, actor=actor)
        await self._clients.delete(client_id, self._clock.now(), actor=actor)

    async def client_token(
        self,
        *,
        client_id: str,
        client_secret: str,
        scope: str | None,
        client: ClientInfo | None = None,
    ) -> ClientToken:
        """The client-credentials grant (RFC 6749 §4.4): 401 ``invalid_client``, 400
        ``unauthorized_client`` or ``invalid_scope``, 429, 503."""
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            await self._throttle.hit(self._settings.token_rate_limit_ip, "token-ip", client.ip)
        record = await self._clients.authenticate(client_id, client_secret)
        return await self._grant.issue(record, scope, client)

    async def introspect(
        self, token: str, *, client_id: str, client_secret: str, client: ClientInfo | None = None
    ) -> dict[str, Any]:
        """RFC 7662 for a registered client: a live token's claims, or ``{"active": False}``.

        401 ``invalid_client`` for bad credentials, 503 when the store cannot answer."""
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            limit = self._settings.introspect_rate_limit_ip
            await self._throttle.hit(limit, "introspect-ip", client.ip)
        await self._clients.authenticate(client_id, client_secret)
        return await self._inspector().introspect(token)

    async def revoke(
        self,
        token: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """RFC 7009: end the session behind a genuine access or refresh token.

        Public clients (the token holder's own app) send no secret, at most our public
        ``client_id``; credentials, when sent, must be right. True if the session was live."""
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            await self._throttle.hit(self._settings.revoke_rate_limit_ip, "revoke-ip", client.ip)
        actor = None
        if client_secret is not None:
            record = await self._clients.authenticate(client_id or "", client_secret)
            actor = f"client:{record.client_id}"
        elif client_id is not None and client_id != self._settings.client_id:
            raise InvalidClient()
        return await self._inspector().revoke(token, actor=actor, client=client)

    def _inspector(self) -> TokenInspector:
        return TokenInspector(
            codec=self._codec,
            check=self._check,
            store=self._store,
            cache=self._cache,
            chain=self._chain(),
            revoker=self._revoker,
            clock=self._clock,
        )
