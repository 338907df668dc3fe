"""Starting a session and minting the token pair that points at it.

Every login creates a brand-new session id (no fixation): nothing a client presents before
login survives into the session it gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sessionjwt.audit.trail import AuditEvent, AuditEventType
from sessionjwt.client import ClientInfo
from sessionjwt.sessions.model import CLIENT_KIND, SessionRecord
from sessionjwt.sessions.store import SessionStore
from sessionjwt.tokens.access import AccessTokenCodec
from sessionjwt.tokens.refresh_token import (
    format_refresh_token,
    hash_secret,
    new_secret,
    new_session_id,
)
from sessionjwt.tokens.scopes import scope_text


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 scheme name, not a secret
    scope: str | None = None  # the session's scopes, space-separated; None: full access
    # A password sign-in's new known-device token (the web faces set it as a cookie).
    known_device: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Federation:
    """How a provider sign-in authenticated: which provider, identity and provider session."""

    idp: str
    identity_id: str
    idp_sid: str | None = None
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionLifetimes:
    absolute: float
    idle: float


class SessionIssuer:
    def __init__(
        self, codec: AccessTokenCodec, store: SessionStore, lifetimes: SessionLifetimes
    ) -> None:
        self._codec = codec
        self._store = store
        self._lifetimes = lifetimes

    async def start(
        self,
        *,
        user_id: str,
        roles: Sequence[str],
        client: ClientInfo,
        now: float,
        actor: str | None = None,
        federation: Federation | None = None,
        amr: Sequence[str] | None = None,
        detail: dict[str, str] | None = None,
        scopes: Sequence[str] = (),
    ) -> TokenPair:
        """``amr``: the RFC 8176 methods the sign-in proved, in order (default ``pwd``, or
        ``fed`` with ``federation``); ``mfa`` among them also stamps the session's
        ``mfa_at``, so step-up starts fresh. ``scopes``: what the client asked to be limited
        to (none: full access); every token of the session carries them."""
        if amr is None:
            amr = ("fed",) if federation is not None else ("pwd",)
        secret = new_secret()
        session = SessionRecord(
            id=new_session_id(),
            user_id=user_id,
            created_at=now,
            authenticated_at=now,
            user_generation=0,  # the store stamps the user's current generation on insert
            last_seen_at=now,
            expires_at=now + self._lifetimes.absolute,
            idle_timeout=self._lifetimes.idle,
            revoked_at=None,
            revoked_reason=None,
            user_agent=client.user_agent,
            ip=client.ip,
            refresh_hash=hash_secret(secret),
            refresh_generation=0,
            refresh_rotated_at=None,
            amr=" ".join(amr),
            mfa_at=now if "mfa" in amr else None,
            scopes=scope_text(scopes),
        )
        if federation is not None:
            session.idp = federation.idp
            session.identity_id, session.idp_sid = federation.identity_id, federation.idp_sid
        event = AuditEvent(
            AuditEventType.LOGIN_OK,
            at=now,
            user_id=user_id,
            session_id=session.id,
            actor=actor or user_id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={
                **({"provider": federation.idp, **federation.detail} if federation else {}),
                **({"amr": " ".join(amr)} if "mfa" in amr else {}),
                **({"scope": session.scopes} if session.scopes else {}),
                **(detail or {}),
            },
        )
        await self._store.create(session, [event])
        return self.mint(session, roles, secret, now)

    def mint(
        self, session: SessionRecord, roles: Sequence[str], secret: str, now: float
    ) -> TokenPair:
        """A fresh access token plus the refresh token ``secret`` for an existing session."""
        access_token, claims = self._codec.issue(
            user_id=session.user_id,
            session_id=session.id,
            roles=roles,
            now=now,
            auth_time=session.authenticated_at,
            expires_at=session.expires_at,
            amr=session.methods,
            idp=session.idp,
            scope=session.scope_values,
            client_id=session.user_id if session.kind == CLIENT_KIND else None,
        )
        return TokenPair(
            access_token=access_token,
            expires_in=max(0, claims.exp - int(now)),
            refresh_token=format_refresh_token(session.id, secret),
            refresh_expires_in=max(0, int(session.expires_at - now)),
            session_id=session.id,
            scope=session.scopes,
        )
