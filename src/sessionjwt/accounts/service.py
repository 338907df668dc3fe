"""Accounts: registration, sign-in behind the throttles, password changes and fresh
authentication. Every password check here goes through the same login defences."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from sessionjwt.accounts.authenticator import Authenticator
from sessionjwt.accounts.known_devices import KnownDevices
from sessionjwt.accounts.passwords import PasswordHashing, PasswordPolicy
from sessionjwt.accounts.throttle import LoginThrottle
from sessionjwt.accounts.users import UserRecord, UserStore, normalise_email
from sessionjwt.audit.trail import AuditEvent, AuditEventType, AuditLog
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, to_datetime
from sessionjwt.errors import (
    InvalidCredentials,
    InvalidEmail,
    SessionRevoked,
)
from sessionjwt.principal import Principal
from sessionjwt.sessions.revoke import Revoker
from sessionjwt.sessions.store import SessionStore
from sessionjwt.settings import Settings
from sessionjwt.support.ratelimit import Throttle


def account_key(email: str) -> str:
    """Failures are counted per account, under the same normalisation the account is found by,
    so a fullwidth or upper-case spelling of an address cannot buy a fresh count."""
    try:
        return normalise_email(email)
    except InvalidEmail:
        return unicodedata.normalize("NFKC", email).strip().casefold()[:320]


class Accounts:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        users: UserStore,
        sessions: SessionStore,
        audit: AuditLog,
        policy: PasswordPolicy,
        hashing: PasswordHashing,
        authenticator: Authenticator,
        throttle: Throttle,
        login_throttle: LoginThrottle,
        known_devices: KnownDevices,
        revoker: Revoker,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._users = users
        self._sessions = sessions
        self._audit = audit
        self._policy = policy
        self._hashing = hashing
        self._authenticator = authenticator
        self._throttle = throttle
        self._login_throttle = login_throttle
        self._known_devices = known_devices
        self._revoker = revoker
        self._ready = ready

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
        """Create the account directly: :class:`EmailTaken` (409) if the address has one.

        For operators and applications; self-service sign-up with e-mail verification on is
        :meth:`EmailVerification.sign_up`, which answers the same whether or not the address
        is taken. ``verified``: the address needs no proof (an operator vouches for it)."""
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            limit = self._settings.register_rate_limit_ip
            await self._throttle.hit(limit, "register-ip", client.ip)
        normalized = normalise_email(email)
        self._policy.check(password, email=normalized)
        password_hash = await self._hashing.hash(password)
        now = self._clock.now()
        user = await self._users.create(email, password_hash, roles, now)
        await self._audit.record(
            AuditEvent(
                AuditEventType.REGISTER,
                at=now,
                user_id=user.id,
                actor=actor or user.id,
                ip=client.ip,
                user_agent=client.user_agent,
            )
        )
        if verified:
            await self._users.mark_email_verified(user.id, now)
            user = replace(user, email_verified_at=to_datetime(now))
        return user

    async def authenticate(
        self, email: str, password: str, client: ClientInfo | None = None
    ) -> UserRecord:
        """Check credentials, behind :class:`LoginThrottle`; the user, 401, 429 or 503.
        A known-device token in ``client`` lifts the per-account ceiling for this attempt."""
        await self._ready()
        client = client or ClientInfo()
        account = account_key(email)
        device = await self._known_devices.recognise(client.known_device, account)
        await self._login_throttle.admit(account, client.ip, known_device=device is not None)
        try:
            user = await self._authenticator.authenticate(email, password, client)
        except InvalidCredentials:
            await self._login_throttle.failed(account)
            if device is not None:
                await self._known_devices.failed(device)
            raise
        await self._login_throttle.succeeded(account, client.ip)
        return user

    def remember_device(self, user: UserRecord, email: str) -> str:
        """A new known-device token for the browser that just signed in as ``user`` with
        ``email`` (its cookie: ``login_known_device_ttl``)."""
        return self._known_devices.issue(user.id, account_key(email))

    async def change_password(
        self,
        principal: Principal,
        current_password: str,
        new_password: str,
        client: ClientInfo | None = None,
    ) -> None:
        """Check the current password (throttled like a login), set the new one, and sign out
        every other session of the user; the caller's stays (ASVS 5 §6.2.3, §7.4.3)."""
        await self._ready()
        client = client or ClientInfo()
        user = await self._confirm_password(
            principal, current_password, client, "password-change", InvalidCredentials()
        )
        self._policy.check(new_password, email=user.email_normalized)
        password_hash = await self._hashing.hash(new_password)
        now = self._clock.now()
        await self._users.set_password_hash(user.id, password_hash)
        await self._audit.record(
            AuditEvent(
                AuditEventType.PASSWORD_CHANGED,
                at=now,
                user_id=user.id,
                session_id=principal.session_id,
                actor=user.id,
                ip=client.ip,
                user_agent=client.user_agent,
            )
        )
        await self._revoker.revoke_user_sessions(
            user.id, keep_session_id=principal.session_id, actor=user.id, client=client
        )

    async def reauthenticate(
        self, principal: Principal, password: str, client: ClientInfo | None = None
    ) -> None:
        """Check the password again (throttled like a login) and mark the session freshly
        authenticated, so ``SecondFactors.require_fresh`` lets sensitive actions through (for
        an account without a second factor)."""
        await self._ready()
        client = client or ClientInfo()
        user = await self._confirm_password(
            principal,
            password,
            client,
            "reauthenticate",
            InvalidCredentials("The password is incorrect."),
        )
        now = self._clock.now()
        event = AuditEvent(
            AuditEventType.REAUTHENTICATED,
            at=now,
            user_id=user.id,
            session_id=principal.session_id,
            actor=user.id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        if not await self._sessions.reauthenticated(principal.session_id, now, [event]):
            raise SessionRevoked()

    async def set_user_roles(self, user_id: str, roles: Sequence[str]) -> None:
        """Change roles; every instance re-reads the user before its next check."""
        await self._ready()
        await self._users.set_roles(user_id, roles)
        await self._revoker.user_changed(user_id)

    async def confirm_password(
        self, principal: Principal, password: str, client: ClientInfo, purpose: str
    ) -> UserRecord:
        """A signed-in user's password, checked behind the login defences on counters of its
        own ``purpose`` (for other services: the e-mail change); 401 or 429."""
        return await self._confirm_password(
            principal, password, client, purpose, InvalidCredentials("The password is incorrect.")
        )

    async def _confirm_password(
        self,
        principal: Principal,
        password: str,
        client: ClientInfo,
        purpose: str,
        refusal: InvalidCredentials,
    ) -> UserRecord:
        """A signed-in user's password, checked behind the login defences on counters of its
        own ``purpose``: a wrong guess here slows further guesses here, without making the
        account's own sign-ins wait."""
        account = f"{purpose}:" + account_key(principal.email)
        await self._login_throttle.admit(account, client.ip)
        user = await self._users.get(principal.user_id)
        matches, _ = await self._hashing.verify(user.password_hash if user else None, password)
        if user is None or not matches:
            await self._login_throttle.failed(account)
            raise refusal
        await self._login_throttle.succeeded(account, client.ip)
        return user
