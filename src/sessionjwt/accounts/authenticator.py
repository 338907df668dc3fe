"""Credentials → user. Unknown emails and wrong passwords look, and take, the same.

An unknown email still costs one argon2 verification (against a dummy hash), so response time
does not reveal whether an account exists. A hash made with older parameters is upgraded on a
successful login ("a hash upgrade is not a password change"). With ``require_verified_email``
an account whose address is not proven is refused with 403 ``email_not_verified`` — only once
the password matched, so the refusal tells nothing to someone who does not know it.

A disabled account is refused like a wrong password — the same 401 ``invalid_credentials``
after the same argon2 work — because "disabled" after a right password would confirm the
guess. The audit trail says what happened (``login_refused_disabled``) and the owner is told
by mail (:mod:`sessionjwt.accounts.disabled_notice`); a disabled user's existing sessions are
still refused with ``account_disabled``, which needs a token, not a guess.
"""

from __future__ import annotations

from sessionjwt.accounts.disabled_notice import DisabledSignInNotices
from sessionjwt.accounts.passwords import PasswordHashing
from sessionjwt.accounts.users import UserRecord, UserStore, normalise_email
from sessionjwt.audit.trail import AuditEvent, AuditEventType, AuditLog
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.errors import EmailNotVerified, InvalidCredentials, InvalidEmail


class Authenticator:
    def __init__(
        self,
        users: UserStore,
        hashing: PasswordHashing,
        audit: AuditLog,
        clock: Clock,
        *,
        require_verified_email: bool = False,
        disabled_notices: DisabledSignInNotices | None = None,
    ) -> None:
        self._users = users
        self._hashing = hashing
        self._audit = audit
        self._clock = clock
        self._require_verified_email = require_verified_email
        self._disabled_notices = disabled_notices
        self.failures = 0  # wrong password or unknown account, for metrics

    async def authenticate(
        self, email: str, password: str, client: ClientInfo | None = None
    ) -> UserRecord:
        client = client or ClientInfo()
        user = await self._users.find_by_email(email)
        matches, needs_rehash = await self._hashing.verify(
            user.password_hash if user else None, password
        )
        if user is None or not matches:
            self.failures += 1
            await self._audit.record(
                AuditEvent(
                    AuditEventType.LOGIN_FAILED,
                    at=self._clock.now(),
                    user_id=user.id if user else None,
                    ip=client.ip,
                    user_agent=client.user_agent,
                    detail={"email": _loggable_email(email), "known": user is not None},
                )
            )
            raise InvalidCredentials()
        if user.disabled:  # the right password: answered as a wrong one (module docstring)
            self.failures += 1
            now = self._clock.now()
            await self._audit.record(
                AuditEvent(
                    AuditEventType.LOGIN_REFUSED_DISABLED,
                    at=now,
                    user_id=user.id,
                    ip=client.ip,
                    user_agent=client.user_agent,
                )
            )
            if self._disabled_notices is not None:
                await self._disabled_notices.refused(user, client.ip, now)
            raise InvalidCredentials()
        if self._require_verified_email and not user.email_verified:
            await self._audit.record(
                AuditEvent(
                    AuditEventType.LOGIN_EMAIL_NOT_VERIFIED,
                    at=self._clock.now(),
                    user_id=user.id,
                    ip=client.ip,
                    user_agent=client.user_agent,
                )
            )
            raise EmailNotVerified()
        if needs_rehash:
            await self._users.set_password_hash(user.id, await self._hashing.hash(password))
        return user


def _loggable_email(email: str) -> str | None:
    """Only a syntactically valid email is logged: people type passwords into email fields."""
    try:
        return normalise_email(email)
    except InvalidEmail:
        return None
