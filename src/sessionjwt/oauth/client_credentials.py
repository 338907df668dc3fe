"""The client-credentials grant (RFC 6749 §4.4): a service client's own access token.

Each grant starts a session of kind ``client`` for the client's service account (see
:mod:`sessionjwt.oauth.clients`), as short-lived as the access token and never refreshable
(§4.4.3: no refresh token). So the token is a normal ``at+jwt`` pointing at a session: the
request check, introspection and the resource servers' feed judge it like any other, and
deleting the client disables its service account, which every instance refuses on the next
request. The token carries ``client_id`` and, when granted any, ``scope`` (RFC 9068 §2.2).

Scopes (§3.3): a request without ``scope`` gets every scope the client is registered for;
one that names a scope the client was not registered for is refused (``invalid_scope``)
rather than silently narrowed, so a misconfigured caller learns it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionjwt.audit.trail import AuditEvent, AuditEventType
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, storable
from sessionjwt.errors import InvalidScope, UnauthorizedClient
from sessionjwt.oauth.clients import ClientRecord
from sessionjwt.sessions.model import CLIENT_KIND, SessionRecord
from sessionjwt.sessions.store import SessionStore
from sessionjwt.tokens.access import AccessTokenCodec
from sessionjwt.tokens.refresh_token import hash_secret, new_secret, new_session_id
from sessionjwt.tokens.scopes import ScopeError, parse_scope, scope_text


@dataclass(frozen=True, slots=True)
class ClientToken:
    """RFC 6749 §5.1 without a refresh token."""

    access_token: str
    expires_in: int
    scope: tuple[str, ...]
    session_id: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 scheme name, not a secret


def granted_scopes(client: ClientRecord, requested: str | None) -> tuple[str, ...]:
    """What the grant gives: all the client's scopes when none are asked for, else exactly
    those asked, each of which must be registered (``invalid_scope`` otherwise)."""
    if requested is None:
        return client.scopes
    try:
        asked = parse_scope(requested)
    except ScopeError as error:
        raise InvalidScope(str(error)) from error
    missing = [scope for scope in asked if scope not in client.scopes]
    if missing:
        raise InvalidScope(f"This client is not registered for the scope {missing[0]!r}.")
    return asked


class ClientCredentialsGrant:
    def __init__(
        self, *, codec: AccessTokenCodec, store: SessionStore, clock: Clock, ttl_seconds: int
    ) -> None:
        self._codec = codec
        self._store = store
        self._clock = clock
        self._ttl = ttl_seconds

    async def issue(
        self, client: ClientRecord, requested: str | None, info: ClientInfo | None = None
    ) -> ClientToken:
        """A token for an authenticated, live client; ``unauthorized_client`` if it is not
        registered for this grant. (While a deletion is half done — service account disabled,
        client row not yet marked — a token minted here is refused by its first check.)"""
        if not client.service:
            raise UnauthorizedClient()
        scopes = granted_scopes(client, requested)
        info = info or ClientInfo()
        now = storable(self._clock.now())
        session = SessionRecord(
            id=new_session_id(),
            user_id=client.client_id,  # the service account's id is the client id
            created_at=now,
            authenticated_at=now,
            user_generation=0,  # the store stamps the account's current generation
            last_seen_at=now,
            expires_at=now + self._ttl,
            idle_timeout=self._ttl + 1,  # lives as long as its one token, idle or not
            revoked_at=None,
            revoked_reason=None,
            user_agent=info.user_agent,
            ip=info.ip,
            refresh_hash=hash_secret(new_secret()),  # a secret nobody keeps: never refreshed
            refresh_generation=0,
            refresh_rotated_at=None,
            amr="",
            kind=CLIENT_KIND,
            name=client.name[:64],
            scopes=scope_text(scopes),
        )
        event = AuditEvent(
            AuditEventType.CLIENT_TOKEN_ISSUED,
            at=now,
            user_id=client.client_id,
            session_id=session.id,
            actor=f"client:{client.client_id}",
            ip=info.ip,
            user_agent=info.user_agent,
            detail={"client_id": client.client_id, "scope": session.scopes or ""},
        )
        await self._store.create(session, [event])
        token, claims = self._codec.issue(
            user_id=client.client_id,
            session_id=session.id,
            roles=(),
            now=now,
            expires_at=session.expires_at,
            scope=scopes,
            client_id=client.client_id,
        )
        return ClientToken(
            access_token=token,
            expires_in=max(0, claims.exp - int(now)),
            scope=scopes,
            session_id=session.id,
        )
