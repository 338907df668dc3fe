"""Personal API keys: create, list and delete — each key a session of kind ``api_key``.

A key is a row in ``sessions``, so everything a session has applies unchanged: the request
check's liveness cache, the invalidation feed (same host and Redis), the :class:`Revoker`,
the audit trail, sign-out everywhere, a password reset, disabling the owner and an emergency
key rotation. Deleting a key is revoking its session: every instance refuses it on the next
request. What a key adds: a name, scopes, the prefix its owner sees, and the SHA-256 of its
secret (compared in constant time by :mod:`sessionjwt.check.request`). Its refresh hash is
that of a secret nobody keeps, and the refresher refuses its kind: a key is never refreshed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sessionjwt.audit.trail import AuditEvent, AuditEventType, AuditLog
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, storable
from sessionjwt.errors import ApiKeyNotFound, InvalidApiKeyRequest, SessionRequired
from sessionjwt.principal import Principal
from sessionjwt.sessions.model import API_KEY_KIND, SessionRecord
from sessionjwt.sessions.revoke import Revoker, RevokeReason
from sessionjwt.sessions.store import SessionStore
from sessionjwt.settings import Settings
from sessionjwt.tokens.api_key import hash_key_secret, listed_prefix, new_api_key, new_key_id
from sessionjwt.tokens.refresh_token import hash_secret, new_secret
from sessionjwt.tokens.scopes import ScopeError, scope_text
from sessionjwt.tokens.scopes import normalize_scopes as scope_tokens

MAX_NAME = 64


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """An API key's scopes (:func:`sessionjwt.tokens.scopes.normalize_scopes`), refused as
    :class:`InvalidApiKeyRequest`."""
    try:
        return scope_tokens(scopes)
    except ScopeError as error:
        raise InvalidApiKeyRequest(str(error)) from error


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key as created: ``key`` is shown this once and never again."""

    record: SessionRecord
    key: str


class ApiKeys:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        store: SessionStore,
        revoker: Revoker,
        audit: AuditLog,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._store = store
        self._revoker = revoker
        self._audit = audit
        self._ready = ready

    @property
    def max_lifetime(self) -> int:
        return int(self._settings.api_key_max_lifetime.total_seconds())

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: Iterable[str] = (),
        expires_in: int | None = None,
        client: ClientInfo | None = None,
    ) -> NewApiKey:
        """A new key for the principal's user. Only a session may make one (403
        ``session_required`` for a key: a leaked key must not outlive its own deletion); the
        caller checks fresh authentication first (``auth.require_fresh_auth``)."""
        if principal.credential != "session":
            raise SessionRequired()
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise InvalidApiKeyRequest(f"An API key's name is 1 to {MAX_NAME} characters.")
        granted = normalize_scopes(scopes)
        lifetime = self.max_lifetime if expires_in is None else expires_in
        if not 0 < lifetime <= self.max_lifetime:
            raise InvalidApiKeyRequest(
                f"expires_in is 1 to {self.max_lifetime} seconds (SESSIONJWT_API_KEY_MAX_LIFETIME)."
            )
        await self._ready()
        client = client or ClientInfo()
        # The device is the creating session's (as the devices page shows it), else the request's.
        creator = await self._store.load(principal.session_id)
        device = (creator[0].user_agent, creator[0].ip) if creator else (None, None)
        user_agent, ip = device[0] or client.user_agent, device[1] or client.ip
        now = storable(self._clock.now())
        key_id = new_key_id()
        key, secret = new_api_key(key_id)
        record = SessionRecord(
            id=key_id,
            user_id=principal.user_id,
            created_at=now,
            authenticated_at=now,
            user_generation=0,  # the store stamps the user's current generation
            last_seen_at=now,
            expires_at=now + lifetime,
            idle_timeout=lifetime + 1,  # a key does not idle out: it expires or is deleted
            revoked_at=None,
            revoked_reason=None,
            user_agent=user_agent,
            ip=ip,
            refresh_hash=hash_secret(new_secret()),  # a secret nobody keeps: never refreshed
            refresh_generation=0,
            refresh_rotated_at=None,
            amr="",
            kind=API_KEY_KIND,
            name=name,
            scopes=scope_text(granted),
            key_prefix=listed_prefix(key),
            key_hash=hash_key_secret(secret),
        )
        event = AuditEvent(
            AuditEventType.API_KEY_CREATED,
            at=now,
            user_id=principal.user_id,
            session_id=key_id,
            actor=principal.user_id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={
                "name": name,
                "scopes": record.scopes or "",
                "expires_in": lifetime,
                "created_by_session": principal.session_id,
            },
        )
        await self._store.create(record, [event])
        return NewApiKey(record, key)

    async def list(self, user_id: str) -> list[SessionRecord]:
        """The user's live keys, newest first (never a key or its hash to show)."""
        await self._ready()
        return await self._store.list_live(user_id, self._clock.now(), kind=API_KEY_KIND)

    async def delete(
        self,
        key_id: str,
        *,
        user_id: str | None = None,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """Revoke the key (only ``user_id``'s, if given: else 404 ``api_key_not_found``)
        through the Revoker: refused by every instance's next request."""
        await self._ready()
        loaded = await self._store.load(key_id)
        if loaded is None or loaded[0].kind != API_KEY_KIND:
            raise ApiKeyNotFound()
        if user_id is not None and loaded[0].user_id != user_id:
            raise ApiKeyNotFound()
        return await self._revoker.revoke_session(
            key_id,
            reason=RevokeReason.API_KEY_DELETED,
            user_id=loaded[0].user_id,
            actor=actor,
            client=client,
        )

    async def refused(self, session: SessionRecord, code: str, now: float) -> None:
        """Audit an ended key presented again (the request check calls this at most once a
        minute per key)."""
        await self._audit.record(
            AuditEvent(
                AuditEventType.API_KEY_REFUSED,
                at=storable(now),
                user_id=session.user_id,
                session_id=session.id,
                actor="system",
                detail={"reason": code, "name": session.name or ""},
            )
        )
