"""Second factors: the sign-in step after the password, enrolment, step-up and the policy.

A sign-in whose first factor (password, or a provider) was proven for an account with a
second factor gets no session yet: it gets a pending sign-in (``mfa_token``, single-use,
short-lived, counting its wrong codes) that only the second factor completes, through the
same :class:`SessionIssuer` as every other sign-in. Adding or removing a factor needs a
fresh proof, is audited, mailed, and ends the user's other sessions, through the same
:class:`Revoker` as every revoke. Decisions read the store, never a cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from sessionjwt.accounts.factors import totp
from sessionjwt.accounts.factors.challenges import Challenge, MfaChallenges, Purpose
from sessionjwt.accounts.factors.qr import qr_svg
from sessionjwt.accounts.factors.recovery_codes import new_codes
from sessionjwt.accounts.factors.store import FactorStore, FactorSummary
from sessionjwt.accounts.mailer import Outbox
from sessionjwt.accounts.service import account_key
from sessionjwt.accounts.throttle import LoginThrottle
from sessionjwt.accounts.users import UserRecord, UserStore
from sessionjwt.audit.trail import AuditEvent, AuditEventType, AuditLog, write_events
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.db.engine import Database
from sessionjwt.errors import (
    AccountDisabled,
    FactorExists,
    FactorNotFound,
    InvalidMfaToken,
    InvalidOneTimeCode,
    MfaRequired,
    ReauthenticationRequired,
    SessionRevoked,
)
from sessionjwt.principal import Principal
from sessionjwt.sessions.issue import Federation, SessionIssuer, TokenPair
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.model import SessionRecord
from sessionjwt.sessions.revoke import Revoker
from sessionjwt.sessions.store import SessionStore
from sessionjwt.settings import Settings

# RFC 8176 values: a TOTP or recovery code is a one-time password; with the first factor,
# the sign-in proved more than one.
OTP_METHODS = ("otp", "mfa")


class Factor(StrEnum):
    TOTP = "totp"
    PASSKEY = "passkey"
    RECOVERY_CODES = "recovery_codes"


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """The answer to a right password on an account with a second factor: no session yet."""

    mfa_token: str
    methods: list[str]  # "totp", "webauthn", "recovery_code"; empty if it must enrol first
    expires_in: int
    enrolment_required: bool = False  # the account's roles need a factor it does not have
    # The right password's new known-device token (the web faces set it as a cookie).
    known_device: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str  # base32, for typing into an app that cannot scan
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class CompletedSignIn:
    tokens: TokenPair
    recovery_codes: list[str] | None = None  # shown once, when the sign-in enrolled a factor


class _Wrong(Exception):
    """A wrong or replayed code, inside the transaction that would have accepted it."""


class SecondFactors:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        database: Database,
        store: FactorStore,
        challenges: MfaChallenges,
        users: UserStore,
        sessions: SessionStore,
        cache: LivenessCache,
        issuer: SessionIssuer,
        revoker: Revoker,
        audit: AuditLog,
        login_throttle: LoginThrottle,
        outbox: Outbox,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._db = database
        self.store = store
        self.challenges = challenges
        self._users = users
        self._sessions = sessions
        self._cache = cache
        self._issuer = issuer
        self._revoker = revoker
        self._audit = audit
        self._login_throttle = login_throttle
        self._outbox = outbox
        self._ready = ready

    # -- policy -------------------------------------------------------------------------------

    def required_for(self, roles: Sequence[str]) -> bool:
        """Whether ``SESSIONJWT_MFA_REQUIRED_ROLES`` makes these roles need a second factor
        (``*`` in it: every account)."""
        required = self._settings.mfa_required_roles
        return "*" in required or any(role in required for role in roles)

    async def summary(self, user_id: str) -> FactorSummary:
        await self._ready()
        return await self.store.summary(user_id)

    # -- sign-in ------------------------------------------------------------------------------

    async def after_first_factor(
        self,
        user: UserRecord,
        amr: Sequence[str],
        client: ClientInfo,
        federation: Federation | None = None,
        scopes: Sequence[str] = (),
    ) -> PendingSignIn | None:
        """None: the first factor is enough, issue the session. Else the pending sign-in
        (for a provider sign-in, ``federation`` rides along to the session it completes; so
        do the ``scopes`` a sign-in asked for)."""
        summary = await self.store.summary(user.id)
        must_enrol = not summary.any and self.required_for(user.roles)
        if not summary.any and not must_enrol:
            return None
        now = self._clock.now()
        ttl = self._settings.mfa_token_ttl.total_seconds()
        token = await self.challenges.open(
            Purpose.SIGN_IN,
            now=now,
            ttl=ttl,
            user_id=user.id,
            amr=amr,
            federation=federation,
            scopes=scopes,
        )
        await self._audit.record(
            self._event(
                AuditEventType.LOGIN_SECOND_FACTOR_PENDING,
                user.id,
                client,
                detail={"methods": ",".join(summary.methods), "enrol": must_enrol},
            )
        )
        return PendingSignIn(token, summary.methods, int(ttl), enrolment_required=must_enrol)

    async def pending_user(self, mfa_token: str) -> tuple[Challenge, UserRecord]:
        """The live pending sign-in ``mfa_token`` names and its user (401 otherwise)."""
        await self._ready()
        challenge = await self.challenges.find(mfa_token, Purpose.SIGN_IN, self._clock.now())
        user = await self._users.get(challenge.user_id or "")
        if user is None:
            raise InvalidMfaToken()
        if user.disabled:
            raise AccountDisabled()
        return challenge, user

    async def complete_sign_in(
        self,
        mfa_token: str,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        client: ClientInfo | None = None,
    ) -> CompletedSignIn:
        """Finish a pending sign-in with a TOTP code (which, for an account that had to enrol,
        also confirms the new authenticator) or a recovery code; the session, or 401/429."""
        client = client or ClientInfo()
        challenge, user = await self.pending_user(mfa_token)
        account = "mfa:" + account_key(user.email)
        await self._login_throttle.admit(account, client.ip)
        now = self._clock.now()
        summary = await self.store.summary(user.id)
        enrolling = not summary.any and self.required_for(user.roles)
        fresh_codes: list[str] | None = None
        events: list[AuditEvent] = []
        step = None
        if recovery_code is None:
            step = await self._totp_step(user.id, code or "", now, confirming=enrolling)
        try:
            async with self._db.write() as connection:
                if recovery_code is not None:
                    if not summary.any or not await self.store.use_recovery_code(
                        connection, user.id, recovery_code, now
                    ):
                        raise _Wrong()
                    events.append(self._event(AuditEventType.RECOVERY_CODE_USED, user.id, client))
                else:
                    if step is None or not await self.store.use_totp_step(
                        connection, user.id, step, now, confirming=enrolling
                    ):
                        raise _Wrong()
                    if enrolling:
                        fresh_codes = new_codes()
                        await self.store.replace_recovery_codes(
                            connection, user.id, fresh_codes, now
                        )
                        events.append(self._factor_event(user.id, client, Factor.TOTP, True))
                await self.challenges.consume(connection, mfa_token, Purpose.SIGN_IN, now)
                await write_events(connection, events)
        except _Wrong:
            await self._wrong_code(mfa_token, account)
            raise InvalidOneTimeCode() from None
        await self._login_throttle.succeeded(account, client.ip)
        if recovery_code is not None:
            self._mail(user.email, "A recovery code was used", _RECOVERY_CODE_USED_MAIL)
        if fresh_codes is not None:
            self._mail(user.email, "Two-step sign-in is on", _FACTOR_MAIL["totp-added"])
        pair = await self._issuer.start(
            user_id=user.id,
            roles=user.roles,
            client=client,
            now=now,
            amr=(*challenge.amr, *OTP_METHODS),
            federation=challenge.federation,
            scopes=challenge.scopes,
        )
        return CompletedSignIn(pair, fresh_codes)

    async def begin_sign_in_enrolment(self, mfa_token: str) -> TotpEnrolment:
        """For a pending sign-in that must enrol: the authenticator secret to confirm with
        ``complete_sign_in(code=...)`` — the one already started, if any, so showing the
        step again does not change the code the app shows. 409 if it has a factor."""
        _, user = await self.pending_user(mfa_token)
        summary = await self.store.summary(user.id)
        if summary.any or not self.required_for(user.roles):
            raise FactorExists("This sign-in needs the second factor you already have.")
        started = await self.store.totp(user.id)
        if started is not None and not started.confirmed:
            return self._enrolment(user, started.secret)
        return await self._start_totp(user)

    async def _wrong_code(self, mfa_token: str, account: str) -> None:
        limit = self._settings.mfa_max_attempts
        await self.challenges.failed(mfa_token, Purpose.SIGN_IN, self._clock.now(), limit)
        await self._login_throttle.failed(account)

    async def _totp_step(
        self, user_id: str, code: str, now: float, *, confirming: bool = False
    ) -> int | None:
        state = await self.store.totp(user_id)
        if state is None or state.confirmed == confirming:
            return None
        return totp.matching_step(state.secret, code, now)

    # -- enrolment and removal (signed in, freshly proven) -------------------------------------

    async def begin_totp(self, principal: Principal) -> TotpEnrolment:
        """A new authenticator secret for the signed-in user (after a fresh proof); it counts
        once :meth:`confirm_totp` saw a first code. 409 if one is set up already."""
        await self.require_fresh(principal)
        user = await self._user(principal)
        state = await self.store.totp(user.id)
        if state is not None and state.confirmed:
            raise FactorExists()
        return await self._start_totp(user)

    async def pending_totp(self, principal: Principal) -> TotpEnrolment | None:
        """The enrolment :meth:`begin_totp` started that no code confirmed yet, to show again
        (a reload, a wrong first code) without changing the code the app shows; None if there
        is none. Needs a fresh proof, like :meth:`begin_totp`: it shows the secret."""
        await self.require_fresh(principal)
        state = await self.store.totp(principal.user_id)
        if state is None or state.confirmed:
            return None
        return self._enrolment(await self._user(principal), state.secret)

    async def _start_totp(self, user: UserRecord) -> TotpEnrolment:
        secret = totp.new_secret()
        await self.store.start_totp(user.id, secret, self._clock.now())
        return self._enrolment(user, secret)

    def _enrolment(self, user: UserRecord, secret: str) -> TotpEnrolment:
        uri = totp.provisioning_uri(secret, user.email, self._totp_issuer())
        return TotpEnrolment(secret, uri, qr_svg(uri))

    async def confirm_totp(
        self, principal: Principal, code: str, client: ClientInfo | None = None
    ) -> list[str]:
        """The first code from the app: the authenticator now counts. Returns new recovery
        codes if the user had none (shown once), else ``[]``. The caller's session is now a
        second-factor session; every other session of the user ends."""
        await self._ready()
        client = client or ClientInfo()
        account = "totp-confirm:" + account_key(principal.email)
        await self._login_throttle.admit(account, client.ip)
        now = self._clock.now()
        summary = await self.store.summary(principal.user_id)
        codes: list[str] = [] if summary.recovery_codes_left else new_codes()
        step = await self._totp_step(principal.user_id, code, now, confirming=True)
        try:
            async with self._db.write() as connection:
                if step is None or not await self.store.use_totp_step(
                    connection, principal.user_id, step, now, confirming=True
                ):
                    raise _Wrong()
                if codes:
                    await self.store.replace_recovery_codes(
                        connection, principal.user_id, codes, now
                    )
        except _Wrong:
            await self._login_throttle.failed(account)
            raise InvalidOneTimeCode() from None
        await self._login_throttle.succeeded(account, client.ip)
        await self._stepped_up(principal, OTP_METHODS, now)
        await self.factor_changed(principal, Factor.TOTP, added=True, client=client)
        return codes

    async def remove_totp(self, principal: Principal, client: ClientInfo | None = None) -> None:
        await self.require_fresh(principal)
        client = client or ClientInfo()
        if not await self.store.remove_totp(principal.user_id):
            raise FactorNotFound()
        await self.factor_changed(principal, Factor.TOTP, added=False, client=client)

    async def regenerate_recovery_codes(
        self, principal: Principal, client: ClientInfo | None = None
    ) -> list[str]:
        """Ten new codes (shown once); the old ones stop working."""
        await self.require_fresh(principal)
        client = client or ClientInfo()
        if not (await self.store.summary(principal.user_id)).any:
            raise FactorNotFound("Set up an authenticator app or a passkey first.")
        codes = new_codes()
        now = self._clock.now()
        async with self._db.write() as connection:
            await self.store.replace_recovery_codes(connection, principal.user_id, codes, now)
            await write_events(
                connection,
                [self._factor_event(principal.user_id, client, Factor.RECOVERY_CODES, True)],
            )
        self._mail(principal.email, "New recovery codes", _FACTOR_MAIL["recovery_codes-added"])
        return codes

    async def factor_changed(
        self, principal: Principal, factor: Factor, *, added: bool, client: ClientInfo
    ) -> None:
        """After a factor was added or removed: audited, mailed, and every other session of
        the user ends (the one that made the change stays). Removing the last factor also
        removes the recovery codes, which are only a way around a factor."""
        user_id = principal.user_id
        if not added and not (await self.store.summary(user_id)).any:
            async with self._db.write() as connection:
                await self.store.replace_recovery_codes(connection, user_id, [], self._clock.now())
        await self._audit.record(self._factor_event(user_id, client, factor, added))
        key = f"{factor}-{'added' if added else 'removed'}"
        subject = "A sign-in method was added" if added else "A sign-in method was removed"
        self._mail(principal.email, subject, _FACTOR_MAIL[key])
        await self._revoker.revoke_user_sessions(
            user_id, keep_session_id=principal.session_id, actor=user_id, client=client
        )

    async def reset(self, user_id: str, *, actor: str | None = None) -> FactorSummary:
        """An administrator's reset: every factor of the user is removed (audited, mailed)
        and every session of the user ends. What the user had."""
        await self._ready()
        user = await self._users.get(user_id)
        if user is None:
            raise FactorNotFound("No such user.")
        event = AuditEvent(
            AuditEventType.MFA_RESET, at=self._clock.now(), user_id=user_id, actor=actor
        )
        before = await self.store.reset(user_id, [event])
        self._mail(user.email, "Your sign-in methods were reset", _RESET_MAIL)
        await self._revoker.revoke_user_sessions(user_id, actor=actor)
        return before

    # -- step-up and the checks sensitive actions make ----------------------------------------

    async def step_up(
        self,
        principal: Principal,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Prove a second factor again on a live session: sensitive actions then pass
        :meth:`require_fresh` for ``fresh_auth_window``, and the session counts as MFA."""
        await self._ready()
        client = client or ClientInfo()
        account = "step-up:" + account_key(principal.email)
        await self._login_throttle.admit(account, client.ip)
        now = self._clock.now()
        events: list[AuditEvent] = []
        step = None
        if recovery_code is None:
            step = await self._totp_step(principal.user_id, code or "", now)
        try:
            async with self._db.write() as connection:
                if recovery_code is not None:
                    if not await self.store.use_recovery_code(
                        connection, principal.user_id, recovery_code, now
                    ):
                        raise _Wrong()
                    events.append(
                        self._event(AuditEventType.RECOVERY_CODE_USED, principal.user_id, client)
                    )
                else:
                    if step is None or not await self.store.use_totp_step(
                        connection, principal.user_id, step, now
                    ):
                        raise _Wrong()
                await write_events(connection, events)
        except _Wrong:
            await self._login_throttle.failed(account)
            raise InvalidOneTimeCode() from None
        await self._login_throttle.succeeded(account, client.ip)
        if recovery_code is not None:
            self._mail(principal.email, "A recovery code was used", _RECOVERY_CODE_USED_MAIL)
        await self._stepped_up(principal, OTP_METHODS, now, client)

    async def _stepped_up(
        self,
        principal: Principal,
        methods: Sequence[str],
        now: float,
        client: ClientInfo | None = None,
    ) -> None:
        session = await self._session(principal)
        amr = [*session.methods]
        amr += [method for method in methods if method not in amr]
        event = self._event(
            AuditEventType.STEPPED_UP,
            principal.user_id,
            client or ClientInfo(),
            session_id=principal.session_id,
            detail={"amr": " ".join(amr)},
        )
        if not await self._sessions.stepped_up(
            principal.session_id, now, " ".join(amr), [event], user_id=principal.user_id
        ):
            raise SessionRevoked()
        self._cache.forget_session(principal.session_id)  # the next check reads the new amr

    async def stepped_up_with(
        self, principal: Principal, methods: Sequence[str], client: ClientInfo
    ) -> None:
        """For another factor's ceremony (a passkey) that just proved possession."""
        await self._stepped_up(principal, methods, self._clock.now(), client)

    async def require_fresh(self, principal: Principal) -> None:
        """403 ``reauthentication_required`` unless the session proved, within
        ``fresh_auth_window``, its second factor (an account that has one) or its password.
        An API key never signed in, so it is never fresh: sensitive actions stay with people."""
        if principal.credential != "session":
            raise ReauthenticationRequired()
        await self._ready()
        session = await self._session(principal)
        window = self._settings.fresh_auth_window.total_seconds()
        now = self._clock.now()
        if (await self.store.summary(principal.user_id)).any:
            if session.mfa_at is None or now - session.mfa_at > window:
                raise ReauthenticationRequired(second_factor=True)
        elif now - session.authenticated_at > window:
            raise ReauthenticationRequired()

    async def require_fresh_if_enrolled(self, principal: Principal) -> None:
        """Step-up for actions that check the password themselves (changing the password or
        the e-mail): an account with a second factor must also have proven it recently."""
        await self._ready()
        if (await self.store.summary(principal.user_id)).any:
            await self.require_fresh(principal)

    async def require_mfa(self, principal: Principal) -> None:
        """403 ``mfa_required`` unless the session proved a second factor. The principal
        says so when it does (it never loses that); else the store is asked, in case it
        stepped up on another instance."""
        if not await self.is_mfa_session(principal):
            raise MfaRequired()

    async def is_mfa_session(self, principal: Principal) -> bool:
        if principal.mfa:
            return True
        await self._ready()
        return "mfa" in (await self._session(principal)).methods

    # -- helpers ------------------------------------------------------------------------------

    async def _session(self, principal: Principal) -> SessionRecord:
        loaded = await self._sessions.load(principal.session_id)
        if loaded is None or loaded[0].revoked_at is not None:
            raise SessionRevoked()
        return loaded[0]

    async def _user(self, principal: Principal) -> UserRecord:
        user = await self._users.get(principal.user_id)
        if user is None:
            raise SessionRevoked()
        return user

    def _totp_issuer(self) -> str:
        return (
            self._settings.totp_issuer or urlsplit(self._settings.issuer).hostname or "sessionjwt"
        )

    def _event(
        self,
        kind: AuditEventType,
        user_id: str,
        client: ClientInfo,
        *,
        session_id: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> AuditEvent:
        return AuditEvent(
            kind,
            at=self._clock.now(),
            user_id=user_id,
            session_id=session_id,
            actor=user_id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail=dict(detail or {}),
        )

    def _factor_event(
        self, user_id: str, client: ClientInfo, factor: Factor, added: bool
    ) -> AuditEvent:
        kind = AuditEventType.FACTOR_ADDED if added else AuditEventType.FACTOR_REMOVED
        return self._event(kind, user_id, client, detail={"factor": str(factor)})

    def _mail(self, to: str, subject: str, body: str) -> None:
        if self._outbox.mailer is not None:
            self._outbox.send_later(to, subject, body, "second-factor notice")


_NOT_YOU = (
    "If this was not you, someone knows your password: reset it, and ask an administrator "
    "to check your account.\n"
)
_FACTOR_MAIL = {
    "totp-added": "An authenticator app was set up for two-step sign-in on your account. "
    "Your other sessions were signed out.\n\n" + _NOT_YOU,
    "totp-removed": "The authenticator app was removed from your account. Your other "
    "sessions were signed out.\n\n" + _NOT_YOU,
    "passkey-added": "A passkey was added to your account. Your other sessions were signed "
    "out.\n\n" + _NOT_YOU,
    "passkey-removed": "A passkey was removed from your account. Your other sessions were "
    "signed out.\n\n" + _NOT_YOU,
    "recovery_codes-added": "New recovery codes were made for your account; the old ones no "
    "longer work.\n\n" + _NOT_YOU,
}
_RECOVERY_CODE_USED_MAIL = (
    "A recovery code was just used to sign in to your account. It cannot be used again.\n\n"
    + _NOT_YOU
)
_RESET_MAIL = (
    "An administrator removed the second factors of your account, and every session was "
    "signed out. Set up two-step sign-in again from the Security page.\n"
)
