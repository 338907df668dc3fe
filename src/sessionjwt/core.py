"""The core API: one object, thin, in the order of the flow — sign-in → session → token →
request check → revoke. Each method delegates to a service with one job (``accounts``,
``sessions``, ``keys``, ``oauth``, ``audit_reader``), built by :mod:`sessionjwt.compose`.

No web framework here: ``SessionJWT`` (:mod:`sessionjwt.facade`) adds the FastAPI faces, and
the web layer takes an :class:`AuthCore`, so the dependency runs one way only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Self

from sessionjwt.accounts.factors.service import CompletedSignIn, PendingSignIn
from sessionjwt.accounts.factors.store import FactorSummary
from sessionjwt.accounts.users import UserRecord
from sessionjwt.apikeys.service import NewApiKey
from sessionjwt.audit.query import AuditFilter, AuditPage
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, SystemClock
from sessionjwt.compose import Components
from sessionjwt.db.engine import Database
from sessionjwt.errors import InvalidScope, SecondFactorRequired
from sessionjwt.keys.master import MasterKeys
from sessionjwt.keys.ring import KeyRing
from sessionjwt.keys.rotation import KeyRingKeeper
from sessionjwt.keys.store import KeyInfo, Rotation
from sessionjwt.oauth.client_credentials import ClientToken
from sessionjwt.oauth.clients import ClientRecord, NewClient
from sessionjwt.ops.readiness import Readiness
from sessionjwt.principal import Principal
from sessionjwt.sessions.issue import TokenPair
from sessionjwt.sessions.model import SessionRecord
from sessionjwt.sessions.revoke import RevokeReason
from sessionjwt.settings import Settings
from sessionjwt.tokens.scopes import ScopeError, parse_scope


def requested_scopes(scope: str | None) -> tuple[str, ...]:
    """A sign-in's ``scope`` parameter; 400 ``invalid_scope`` when it is not RFC 6749's."""
    if scope is None:
        return ()
    try:
        return parse_scope(scope)
    except ScopeError as error:
        raise InvalidScope(str(error)) from error


class AuthCore:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        database: Database | None = None,
        throttle_storage: str | None = None,
    ) -> None:
        self.settings = settings = settings or Settings()
        self.clock = clock = clock or SystemClock()
        self.components = parts = Components(
            settings, clock=clock, database=database, throttle_storage=throttle_storage
        )
        # The services, one job each.
        self.accounts = parts.accounts
        self.password_resets = parts.password_resets
        self.email_verification = parts.email_verification
        self.sessions = parts.sessions
        self.oauth = parts.oauth
        self.audit_reader = parts.audit_reader
        self.providers = parts.providers  # None unless SESSIONJWT_PROVIDERS names some
        self.factors = parts.factors
        self.passkeys = parts.passkeys  # None without the mfa extra (py_webauthn)
        self.api_keys = parts.api_keys  # personal API keys (docs/api-keys.md)
        # The collaborators an operator, a test or a web face reaches for.
        self.database = parts.database
        self.users = parts.users
        self.session_store = parts.session_store
        self.audit = parts.audit
        self.clients = parts.clients
        self.cache = parts.cache
        self.feed = parts.feed
        self.throttle = parts.throttle
        self.hashing = parts.hashing
        self.codec = parts.codec
        self.checker = parts.checker
        self.revoker = parts.revoker
        self.authenticator = parts.authenticator

    @property
    def keys(self) -> KeyRingKeeper | None:
        """The key keeper (None until :meth:`start` has run)."""
        return self.components.keys

    @property
    def master_keys(self) -> MasterKeys | None:
        return self.components.master_keys

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, migrate: bool | None = None) -> None:
        """Load keys and start background work; idempotent, and called lazily if you forget.

        ``migrate`` defaults to True on SQLite (zero set-up) and False elsewhere, where a
        schema behind the code is refused with a message naming ``sessionjwt migrate``.
        """
        await self.components.start(migrate=migrate)

    async def close(self) -> None:
        await self.components.close()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()  # release connections opened before the failure
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Pass as ``FastAPI(lifespan=auth.lifespan)``."""
        await self.__aenter__()
        try:
            yield
        finally:
            await self.close()

    # -- sign-in ---------------------------------------------------------------------------

    async def register(
        self,
        email: str,
        password: str,
        *,
        roles: Sequence[str] = (),
        client: ClientInfo | None = None,
        actor: str | None = None,
        verified: bool = False,
    ) -> UserRecord:
        """Create an account directly (409 if the address has one); ``verified``: its address
        needs no proof. Self-service sign-up with verification on is :meth:`sign_up`."""
        return await self.accounts.register(
            email, password, roles=roles, client=client, actor=actor, verified=verified
        )

    async def sign_up(self, email: str, password: str, client: ClientInfo | None = None) -> None:
        """Uniform sign-up: a verification link to a new address, a notice to a taken one."""
        await self.email_verification.sign_up(email, password, client)

    async def resend_verification(self, email: str, client: ClientInfo | None = None) -> None:
        """Mail a new verification link if ``email`` has an unverified account; tells nothing."""
        await self.email_verification.resend(email, client)

    async def verify_email(self, token: str, client: ClientInfo | None = None) -> None:
        """Use a verification link once: the account's address is proven (or 400)."""
        await self.email_verification.verify(token, client)

    async def change_email(
        self,
        principal: Principal,
        new_email: str,
        password: str,
        client: ClientInfo | None = None,
    ) -> None:
        """Check the password, mail a link to ``new_email`` and a notice to the old address;
        an account with a second factor must have proven it recently (step-up)."""
        await self.factors.require_fresh_if_enrolled(principal)
        await self.email_verification.change_email(principal, new_email, password, client)

    async def confirm_email_change(
        self, principal: Principal, token: str, client: ClientInfo | None = None
    ) -> None:
        """Move the account to the linked address; every other session of the user ends."""
        await self.email_verification.confirm_change(principal, token, client)

    async def authenticate(
        self, email: str, password: str, client: ClientInfo | None = None
    ) -> UserRecord:
        """Check credentials, behind the login throttles; the user, 401, 429 or 503."""
        return await self.accounts.authenticate(email, password, client)

    async def sign_in(
        self,
        email: str,
        password: str,
        client: ClientInfo | None = None,
        *,
        scope: str | None = None,
    ) -> TokenPair | PendingSignIn:
        """The password, then — for an account with a second factor, or whose roles need
        one — a :class:`PendingSignIn` that :meth:`complete_sign_in` finishes; else a session.

        ``scope`` (RFC 6749 §3.3, space-separated): the client asks for a session limited to
        these scopes; its tokens carry the ``scope`` claim (400 ``invalid_scope`` if
        malformed). Without it the session is full-access, as before. Either answer carries
        a new ``known_device`` token for the client to present at its next password sign-in
        (``client.known_device``): it is then not held to the per-account ceiling."""
        client = client or ClientInfo()
        scopes = requested_scopes(scope)
        user = await self.authenticate(email, password, client)
        device = self.accounts.remember_device(user, email)
        pending = await self.factors.after_first_factor(user, ("pwd",), client, scopes=scopes)
        if pending is not None:
            return replace(pending, known_device=device)
        return replace(await self.issue(user, client, scopes=scopes), known_device=device)

    async def login(
        self,
        email: str,
        password: str,
        client: ClientInfo | None = None,
        *,
        scope: str | None = None,
    ) -> TokenPair:
        """:meth:`sign_in` for callers that only take a session: an account with a second
        factor raises :class:`SecondFactorRequired` (carrying the pending sign-in)."""
        result = await self.sign_in(email, password, client, scope=scope)
        if isinstance(result, PendingSignIn):
            raise SecondFactorRequired(result)
        return result

    async def complete_sign_in(
        self,
        mfa_token: str,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        client: ClientInfo | None = None,
    ) -> CompletedSignIn:
        """The second step: a TOTP code or a recovery code completes the pending sign-in."""
        return await self.factors.complete_sign_in(
            mfa_token, code=code, recovery_code=recovery_code, client=client
        )

    async def change_password(
        self,
        principal: Principal,
        current_password: str,
        new_password: str,
        client: ClientInfo | None = None,
    ) -> None:
        """Set a new password and sign out every other session of the user; an account with
        a second factor must have proven it within ``fresh_auth_window`` (step-up)."""
        await self.factors.require_fresh_if_enrolled(principal)
        await self.accounts.change_password(principal, current_password, new_password, client)

    async def reauthenticate(
        self, principal: Principal, password: str, client: ClientInfo | None = None
    ) -> None:
        """Prove the password again: :meth:`require_fresh_auth` then lets sensitive actions by."""
        await self.accounts.reauthenticate(principal, password, client)

    async def step_up(
        self,
        principal: Principal,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Prove the second factor again: sensitive actions pass for ``fresh_auth_window``."""
        await self.factors.step_up(principal, code=code, recovery_code=recovery_code, client=client)

    async def require_fresh_auth(self, principal: Principal) -> None:
        """403 ``reauthentication_required`` unless the session recently proved its second
        factor (an account that has one) or its password (one that has not)."""
        await self.factors.require_fresh(principal)

    async def require_mfa(self, principal: Principal) -> None:
        """403 ``mfa_required`` unless the session signed in (or stepped up) with a second
        factor."""
        await self.factors.require_mfa(principal)

    async def reset_factors(self, user_id: str, *, actor: str | None = None) -> FactorSummary:
        """An administrator's reset: every second factor of the user goes, and every session."""
        return await self.factors.reset(user_id, actor=actor)

    async def request_password_reset(self, email: str, client: ClientInfo | None = None) -> None:
        """Mail a single-use reset link if ``email`` has an account; the caller learns nothing."""
        await self.password_resets.request(email, client)

    async def confirm_password_reset(
        self, token: str, new_password: str, client: ClientInfo | None = None
    ) -> None:
        """Use a reset token once: set the new password and end every session of the user."""
        await self.password_resets.confirm(token, new_password, client)

    async def set_user_roles(self, user_id: str, roles: Sequence[str]) -> None:
        """Change roles; every instance re-reads the user before its next check."""
        await self.accounts.set_user_roles(user_id, roles)

    # -- session → tokens ------------------------------------------------------------------

    async def issue(
        self, user: UserRecord, client: ClientInfo | None = None, *, scopes: Sequence[str] = ()
    ) -> TokenPair:
        """Start a new session for an authenticated user and mint its token pair."""
        return await self.sessions.issue(user.id, user.roles, client, scopes=scopes)

    async def refresh(self, refresh_token: str, client: ClientInfo | None = None) -> TokenPair:
        return await self.sessions.refresh(refresh_token, client)

    async def list_sessions(self, user_id: str) -> list[SessionRecord]:
        return await self.sessions.list_live(user_id)

    async def session_owner(self, session_id: str) -> str | None:
        """Whose session this is (None: no such session), for tools given only its id."""
        return await self.sessions.owner_of(session_id)

    # -- personal API keys (docs/api-keys.md) ----------------------------------------------

    async def create_api_key(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: Sequence[str] = (),
        expires_in: int | None = None,
        client: ClientInfo | None = None,
    ) -> NewApiKey:
        """A key for the principal's user (a session, freshly authenticated: the caller checks
        :meth:`require_fresh_auth`); ``.key`` is shown once."""
        return await self.api_keys.create(
            principal, name=name, scopes=scopes, expires_in=expires_in, client=client
        )

    async def list_api_keys(self, user_id: str) -> list[SessionRecord]:
        return await self.api_keys.list(user_id)

    async def delete_api_key(
        self,
        key_id: str,
        *,
        user_id: str | None = None,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """Revoke a key (only ``user_id``'s, if given: else 404): the next check refuses it."""
        return await self.api_keys.delete(key_id, user_id=user_id, actor=actor, client=client)

    # -- the request check -----------------------------------------------------------------

    async def check(self, token: str) -> Principal:
        """Token → principal, or a 401/503 :class:`~sessionjwt.errors.SessionJWTError`."""
        return await self.checker.check(token)

    # -- revoke ----------------------------------------------------------------------------

    async def logout(self, principal: Principal, client: ClientInfo | None = None) -> None:
        await self.sessions.logout(principal, client)

    async def revoke_session(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        reason: RevokeReason = RevokeReason.ADMIN_REVOKED,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """Revoke one session (only ``user_id``'s, if given: else 404). Seen by the next check."""
        return await self.sessions.revoke(
            session_id, user_id=user_id, reason=reason, actor=actor, client=client
        )

    async def revoke_user_sessions(
        self,
        user_id: str,
        *,
        keep_session_id: str | None = None,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Sign out everywhere (but ``keep_session_id``): one write, whatever the count."""
        await self.sessions.revoke_all_of_user(
            user_id, keep_session_id=keep_session_id, actor=actor, client=client
        )

    async def set_user_disabled(
        self, user_id: str, disabled: bool = True, *, actor: str | None = None
    ) -> None:
        await self.sessions.set_user_disabled(user_id, disabled, actor=actor)

    # -- signing keys ----------------------------------------------------------------------

    def key_ring(self) -> KeyRing:
        return self.components.key_ring()

    async def list_keys(self) -> list[KeyInfo]:
        return await (await self.components.keeper()).list_keys()

    async def rotate_keys(
        self, *, revoke_all: bool = False, force: bool = False, actor: str | None = None
    ) -> Rotation:
        """Rotate the signing key; ``revoke_all`` also ends every session (breach)."""
        keeper = await self.components.keeper()
        return await keeper.rotate(revoke_all=revoke_all, force=force, actor=actor)

    async def retire_key(self, kid: str, *, actor: str | None = None) -> None:
        """Refuse every token ``kid`` signed, on every instance, from now on."""
        await (await self.components.keeper()).retire(kid, actor=actor)

    # -- resource-server clients, RFC 7662 introspection, RFC 7009 revocation --------------

    async def create_client(
        self,
        name: str,
        *,
        actor: str | None = None,
        client_credentials: bool = False,
        scopes: Sequence[str] = (),
    ) -> NewClient:
        """Register a client (a resource server; with ``client_credentials`` also a service
        client that obtains tokens limited to ``scopes``). The secret is shown only now."""
        return await self.oauth.create_client(
            name, actor=actor, client_credentials=client_credentials, scopes=scopes
        )

    async def list_clients(self, *, include_deleted: bool = False) -> list[ClientRecord]:
        return await self.oauth.list_clients(include_deleted=include_deleted)

    async def delete_client(self, client_id: str, *, actor: str | None = None) -> None:
        """Refuse the client's credentials and every token it obtained, at once."""
        await self.oauth.delete_client(client_id, actor=actor)

    async def client_token(
        self,
        *,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        client: ClientInfo | None = None,
    ) -> ClientToken:
        """The client-credentials grant (RFC 6749 §4.4, docs/service-clients.md)."""
        return await self.oauth.client_token(
            client_id=client_id, client_secret=client_secret, scope=scope, client=client
        )

    async def introspect(
        self, token: str, *, client_id: str, client_secret: str, client: ClientInfo | None = None
    ) -> dict[str, Any]:
        """RFC 7662 for a registered client: a live token's claims, or ``{"active": False}``."""
        return await self.oauth.introspect(
            token, client_id=client_id, client_secret=client_secret, client=client
        )

    async def revoke_token(
        self,
        token: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """RFC 7009: end the session behind a genuine access or refresh token."""
        return await self.oauth.revoke(
            token, client_id=client_id, client_secret=client_secret, client=client
        )

    # -- operations ------------------------------------------------------------------------

    async def audit_events(self, query: AuditFilter) -> AuditPage:
        """One page of the audit trail, newest first (build ``query`` with AuditFilter.parse)."""
        await self.start()
        return await self.audit_reader.page(query)

    async def readiness(self) -> Readiness:
        """Whether the database, Redis (if configured) and the invalidation feed answer."""
        return await self.components.readiness.probe()

    async def flush_last_seen(self) -> None:
        await self.components.maintenance.flush_last_seen()

    async def prune(self) -> tuple[int, int]:
        """Delete ended sessions and expired audit rows in bounded batches; (sessions, events).

        Runs in the background every ``prune_interval``; safe on several instances at once."""
        return await self.components.maintenance.prune()
