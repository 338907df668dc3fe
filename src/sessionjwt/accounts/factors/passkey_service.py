"""Passkeys: add one, sign in with it alone or after a password, prove it again (step-up),
and manage them (list, rename, remove).

Every ceremony is a challenge on a row of ``mfa_challenges`` (single-use, short-lived; the
client holds a ``challenge_token``, only its digest is stored). The passkey sign-in's second
step keeps its challenge on the pending sign-in itself, so completing the sign-in spends both.
A verified assertion moves the passkey's counter forward in the same transaction that uses
its ceremony; a counter that goes backwards is a cloned credential: refused, audited
(``passkey_counter_regressed``) and mailed. Sessions come from the one
:class:`~sessionjwt.sessions.issue.SessionIssuer`; adding and removing go through
:meth:`SecondFactors.factor_changed` (audit, mail, other sessions end), like every factor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sessionjwt.accounts.factors import passkeys as ceremonies
from sessionjwt.accounts.factors.challenges import MfaChallenges, Purpose
from sessionjwt.accounts.factors.passkey_store import (
    NAME_MAX,
    DuplicateCredential,
    PasskeyRecord,
    PasskeyStore,
)
from sessionjwt.accounts.factors.passkeys import (
    Assertion,
    RelyingParty,
    VerifiedAssertion,
    counter_regressed,
)
from sessionjwt.accounts.factors.recovery_codes import new_codes
from sessionjwt.accounts.factors.service import Factor, SecondFactors
from sessionjwt.accounts.mailer import Outbox
from sessionjwt.accounts.service import account_key
from sessionjwt.accounts.throttle import LoginThrottle
from sessionjwt.accounts.users import UserRecord, UserStore
from sessionjwt.audit.trail import AuditEvent, AuditEventType, AuditLog
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.errors import (
    AccountDisabled,
    EmailNotVerified,
    FactorExists,
    FactorNotFound,
    InvalidMfaToken,
    InvalidPasskey,
    PasskeyCloned,
    SessionRevoked,
)
from sessionjwt.identifiers import new_identifier
from sessionjwt.principal import Principal
from sessionjwt.sessions.issue import SessionIssuer, TokenPair
from sessionjwt.settings import Settings
from sessionjwt.support.ratelimit import Throttle

MAX_PASSKEYS = 25  # per account: enough for every device, bounded for the option lists
DEFAULT_NAME = "Passkey"
IP_SCOPE = "passkey-ip"  # passwordless ceremonies per client address


@dataclass(frozen=True, slots=True)
class Ceremony:
    """What the browser needs for ``navigator.credentials.create()``/``get()``."""

    options: dict[str, Any]  # PublicKeyCredential{Creation,Request}Options, WebAuthn JSON
    expires_in: int
    challenge_token: str | None = None  # None: the challenge rides on the pending sign-in


@dataclass(frozen=True, slots=True)
class PasskeyInfo:
    """One passkey as its owner sees it: never its key or credential id."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    synced: bool  # backed up by its provider (a synced passkey)

    @classmethod
    def of(cls, record: PasskeyRecord) -> PasskeyInfo:
        return cls(record.id, record.name, record.created_at, record.last_used_at, record.backed_up)


@dataclass(frozen=True, slots=True)
class RegisteredPasskey:
    passkey: PasskeyInfo
    recovery_codes: list[str]  # shown once, when the account had none left; else []


class _Regressed(Exception):
    """The counter did not move forward, found inside the transaction that would use it."""


def passkey_name(name: str | None) -> str:
    """A name as typed, on one line and within the column; the default if blank."""
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in name or "").split())
    return cleaned[:NAME_MAX] or DEFAULT_NAME


class Passkeys:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        database: Database,
        store: PasskeyStore,
        challenges: MfaChallenges,
        factors: SecondFactors,
        users: UserStore,
        issuer: SessionIssuer,
        audit: AuditLog,
        throttle: Throttle,
        login_throttle: LoginThrottle,
        outbox: Outbox,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._db = database
        self.store = store
        self._challenges = challenges
        self._factors = factors
        self._users = users
        self._issuer = issuer
        self._audit = audit
        self._throttle = throttle
        self._login_throttle = login_throttle
        self._outbox = outbox
        self._ready = ready
        self.relying_party = RelyingParty.of(settings)

    @property
    def _ttl(self) -> float:
        return self._settings.webauthn_challenge_ttl.total_seconds()

    # -- adding one (signed in, freshly proven) -----------------------------------------------

    async def registration_options(self, principal: Principal) -> Ceremony:
        """Options for ``navigator.credentials.create()``, after a fresh proof (403
        ``reauthentication_required``); the user's passkeys are excluded, so an authenticator
        holding one already says so. 409 ``factor_exists`` at :data:`MAX_PASSKEYS`."""
        await self._ready()
        await self._factors.require_fresh(principal)
        user = await self._user(principal.user_id)
        existing = await self.store.for_user(user.id)
        if len(existing) >= MAX_PASSKEYS:
            raise FactorExists(f"An account can have at most {MAX_PASSKEYS} passkeys.")
        challenge = ceremonies.new_challenge()
        token = await self._challenges.open(
            Purpose.PASSKEY_REGISTER,
            now=self._clock.now(),
            ttl=self._ttl,
            user_id=user.id,
            session_id=principal.session_id,
            challenge=challenge,
        )
        options = ceremonies.registration_options(
            self.relying_party,
            user_id=user.id,
            user_name=user.email,
            challenge=challenge,
            existing=existing,
        )
        return Ceremony(options, int(self._ttl), token)

    async def register(
        self,
        principal: Principal,
        challenge_token: str,
        credential: Mapping[str, Any] | str,
        *,
        name: str | None = None,
        client: ClientInfo | None = None,
    ) -> RegisteredPasskey:
        """Keep the passkey ``navigator.credentials.create()`` made for this session's
        ceremony. The session becomes a second-factor session, every other session of the
        user ends, it is audited and mailed; an account without recovery codes gets ten
        (shown once). 401 ``invalid_passkey`` (the ceremony is then spent), 409
        ``factor_exists`` for a credential registered already."""
        await self._ready()
        client = client or ClientInfo()
        await self._factors.require_fresh(principal)
        now = self._clock.now()
        purpose = Purpose.PASSKEY_REGISTER
        ceremony = await self._challenges.find(challenge_token, purpose, now, InvalidPasskey)
        if (
            ceremony.user_id != principal.user_id
            or ceremony.session_id != principal.session_id
            or not ceremony.challenge
        ):
            raise InvalidPasskey()
        try:
            made = ceremonies.verify_registration(
                self.relying_party, credential, ceremony.challenge
            )
        except InvalidPasskey:
            await self._spend(challenge_token, purpose)
            raise
        summary = await self._factors.summary(principal.user_id)
        codes = [] if summary.recovery_codes_left else new_codes()
        record = PasskeyRecord(
            id=new_identifier(12),
            user_id=principal.user_id,
            credential_id=made.credential_id,
            public_key=made.public_key,
            sign_count=made.sign_count,
            name=passkey_name(name),
            transports=made.transports,
            aaguid=made.aaguid,
            backed_up=made.backed_up,
            created_at=to_datetime(now),
            last_used_at=None,
        )
        try:
            async with self._db.write() as connection:
                await self._challenges.consume(connection, challenge_token, purpose, now)
                await self.store.add(connection, record)
                if codes:
                    await self._factors.store.replace_recovery_codes(
                        connection, principal.user_id, codes, now
                    )
        except DuplicateCredential:
            await self._spend(challenge_token, purpose)
            raise FactorExists("This passkey is registered already.") from None
        key = ceremonies.SOFTWARE_KEY if made.multi_device else ceremonies.HARDWARE_KEY
        await self._factors.stepped_up_with(principal, (key, ceremonies.MFA), client)
        await self._factors.factor_changed(principal, Factor.PASSKEY, added=True, client=client)
        return RegisteredPasskey(PasskeyInfo.of(record), codes)

    # -- passwordless sign-in -----------------------------------------------------------------

    async def sign_in_options(self, client: ClientInfo | None = None) -> Ceremony:
        """Options for ``navigator.credentials.get()`` without a user: the browser offers
        the passkeys it holds for this site. 429 ``rate_limited`` per address."""
        await self._ready()
        await self._admit_address(client or ClientInfo())
        challenge = ceremonies.new_challenge()
        token = await self._challenges.open(
            Purpose.PASSKEY_SIGN_IN, now=self._clock.now(), ttl=self._ttl, challenge=challenge
        )
        options = ceremonies.authentication_options(
            self.relying_party, challenge=challenge, user_verification=True
        )
        return Ceremony(options, int(self._ttl), token)

    async def sign_in(
        self,
        challenge_token: str,
        credential: Mapping[str, Any] | str,
        client: ClientInfo | None = None,
    ) -> TokenPair:
        """A passkey as the first and only factor: it must have verified the user (PIN or
        biometric), so the session counts as two factors (``amr`` ``hwk``/``swk``, ``user``,
        ``mfa``). 401 ``invalid_passkey`` (the ceremony is spent), 401
        ``passkey_counter_regressed``, 401 ``account_disabled``, 403 ``email_not_verified``
        (when verification is required), 429 ``rate_limited``."""
        await self._ready()
        client = client or ClientInfo()
        await self._admit_address(client)
        purpose = Purpose.PASSKEY_SIGN_IN
        now = self._clock.now()
        ceremony = await self._challenges.find(challenge_token, purpose, now, InvalidPasskey)
        try:
            if ceremony.user_id is not None or not ceremony.challenge:
                raise InvalidPasskey()
            assertion = ceremonies.parse_assertion(credential)
            passkey = await self.store.by_credential_id(assertion.credential_id)
            if passkey is None:
                raise InvalidPasskey()
            verified = ceremonies.verify_assertion(
                self.relying_party,
                assertion,
                ceremony.challenge,
                passkey,
                user_verification=True,
            )
            user = await self._users.get(passkey.user_id)
            if user is None:
                raise InvalidPasskey()
        except InvalidPasskey:
            await self._spend(challenge_token, purpose)
            raise
        if counter_regressed(passkey.sign_count, verified.sign_count):
            await self._spend(challenge_token, purpose)
            await self._cloned(passkey, verified, user, client)
        if user.disabled:
            await self._spend(challenge_token, purpose)
            raise AccountDisabled()
        if self._settings.email_verification == "required" and not user.email_verified:
            await self._spend(challenge_token, purpose)
            raise EmailNotVerified()
        await self._use(passkey, verified, user, client, now, challenge_token, purpose)
        return await self._issuer.start(
            user_id=user.id,
            roles=user.roles,
            client=client,
            now=now,
            amr=_methods(verified),
            detail={"passkey_id": passkey.id},
        )

    # -- the second step of a sign-in ---------------------------------------------------------

    async def second_factor_options(self, mfa_token: str) -> Ceremony:
        """Options for the pending sign-in ``mfa_token``: only that user's passkeys; the
        challenge is kept on the pending sign-in (a new call replaces it). 401
        ``invalid_mfa_token``, 404 ``factor_not_found`` if the account has no passkey."""
        pending, user = await self._factors.pending_user(mfa_token)
        keys = await self.store.for_user(user.id)
        if not keys:
            raise FactorNotFound("This account has no passkey.")
        challenge = ceremonies.new_challenge()
        now = self._clock.now()
        await self._challenges.set_challenge(mfa_token, Purpose.SIGN_IN, challenge, now)
        options = ceremonies.authentication_options(
            self.relying_party, challenge=challenge, allowed=keys
        )
        return Ceremony(options, max(1, int(pending.expires_at - now)))

    async def complete_sign_in(
        self,
        mfa_token: str,
        credential: Mapping[str, Any] | str,
        client: ClientInfo | None = None,
    ) -> TokenPair:
        """Finish a pending sign-in with one of its user's passkeys: ``amr`` is what the first
        step proved, then ``hwk``/``swk`` and ``mfa``. Wrong assertions count like wrong codes
        (the sign-in is spent after ``mfa_max_attempts``; the account's backoff applies).
        401 ``invalid_passkey``, ``passkey_counter_regressed``, ``invalid_mfa_token``; 429."""
        client = client or ClientInfo()
        pending, user = await self._factors.pending_user(mfa_token)
        account = "mfa:" + account_key(user.email)
        await self._login_throttle.admit(account, client.ip)
        now = self._clock.now()
        try:
            if not pending.challenge:
                raise InvalidPasskey()
            assertion = ceremonies.parse_assertion(credential)
            passkey = await self._owned(assertion, user.id)
            verified = ceremonies.verify_assertion(
                self.relying_party, assertion, pending.challenge, passkey
            )
        except InvalidPasskey:
            await self._wrong(mfa_token, account)
            raise
        try:
            if counter_regressed(passkey.sign_count, verified.sign_count):
                raise _Regressed()
            async with self._db.write() as connection:
                if not await self.store.use(
                    connection, passkey.id, verified.sign_count, verified.backed_up, now
                ):
                    raise _Regressed()
                await self._challenges.consume(connection, mfa_token, Purpose.SIGN_IN, now)
        except _Regressed:
            await self._wrong(mfa_token, account)
            await self._cloned(passkey, verified, user, client)
        await self._login_throttle.succeeded(account, client.ip)
        return await self._issuer.start(
            user_id=user.id,
            roles=user.roles,
            client=client,
            now=now,
            amr=(*pending.amr, verified.key_method, ceremonies.MFA),
            federation=pending.federation,
            detail={"passkey_id": passkey.id},
            scopes=pending.scopes,
        )

    # -- step-up on a live session ------------------------------------------------------------

    async def step_up_options(self, principal: Principal) -> Ceremony:
        """Options to prove one of the user's passkeys again. 404 ``factor_not_found``."""
        await self._ready()
        keys = await self.store.for_user(principal.user_id)
        if not keys:
            raise FactorNotFound("This account has no passkey.")
        challenge = ceremonies.new_challenge()
        token = await self._challenges.open(
            Purpose.PASSKEY_STEP_UP,
            now=self._clock.now(),
            ttl=self._ttl,
            user_id=principal.user_id,
            session_id=principal.session_id,
            challenge=challenge,
        )
        options = ceremonies.authentication_options(
            self.relying_party, challenge=challenge, allowed=keys
        )
        return Ceremony(options, int(self._ttl), token)

    async def step_up(
        self,
        principal: Principal,
        challenge_token: str,
        credential: Mapping[str, Any] | str,
        client: ClientInfo | None = None,
    ) -> None:
        """The session proved a passkey again: sensitive actions pass for
        ``fresh_auth_window``, and the session counts as MFA. 401 ``invalid_passkey`` (the
        ceremony is spent), ``passkey_counter_regressed``; 429 ``rate_limited``."""
        await self._ready()
        client = client or ClientInfo()
        account = "step-up:" + account_key(principal.email)
        await self._login_throttle.admit(account, client.ip)
        purpose = Purpose.PASSKEY_STEP_UP
        now = self._clock.now()
        ceremony = await self._challenges.find(challenge_token, purpose, now, InvalidPasskey)
        try:
            if (
                ceremony.user_id != principal.user_id
                or ceremony.session_id != principal.session_id
                or not ceremony.challenge
            ):
                raise InvalidPasskey()
            assertion = ceremonies.parse_assertion(credential)
            passkey = await self._owned(assertion, principal.user_id)
            verified = ceremonies.verify_assertion(
                self.relying_party, assertion, ceremony.challenge, passkey
            )
        except InvalidPasskey:
            await self._login_throttle.failed(account)
            await self._spend(challenge_token, purpose)
            raise
        user = await self._user(principal.user_id)
        if counter_regressed(passkey.sign_count, verified.sign_count):
            await self._spend(challenge_token, purpose)
            await self._cloned(passkey, verified, user, client)
        await self._use(passkey, verified, user, client, now, challenge_token, purpose)
        await self._login_throttle.succeeded(account, client.ip)
        await self._factors.stepped_up_with(
            principal, (verified.key_method, ceremonies.MFA), client
        )

    # -- managing them --------------------------------------------------------------------------

    async def for_user(self, user_id: str) -> list[PasskeyInfo]:
        """The user's passkeys, oldest first."""
        await self._ready()
        return [PasskeyInfo.of(record) for record in await self.store.for_user(user_id)]

    async def rename(self, principal: Principal, passkey_id: str, name: str) -> PasskeyInfo:
        """A new name (no fresh proof needed: a name opens nothing). 404 ``factor_not_found``."""
        await self._ready()
        if not await self.store.rename(principal.user_id, passkey_id, passkey_name(name)):
            raise FactorNotFound("No such passkey.")
        record = await self.store.get(principal.user_id, passkey_id)
        if record is None:
            raise FactorNotFound("No such passkey.")
        return PasskeyInfo.of(record)

    async def remove(
        self, principal: Principal, passkey_id: str, client: ClientInfo | None = None
    ) -> None:
        """After a fresh proof: the passkey stops working, every other session of the user
        ends, it is audited and mailed; the last factor takes the recovery codes with it.
        404 ``factor_not_found``."""
        await self._ready()
        await self._factors.require_fresh(principal)
        if not await self.store.remove(principal.user_id, passkey_id):
            raise FactorNotFound("No such passkey.")
        await self._factors.factor_changed(
            principal, Factor.PASSKEY, added=False, client=client or ClientInfo()
        )

    # -- helpers --------------------------------------------------------------------------------

    async def _admit_address(self, client: ClientInfo) -> None:
        if client.ip:
            await self._throttle.hit(self._settings.login_rate_limit_ip, IP_SCOPE, client.ip)

    async def _owned(self, assertion: Assertion, user_id: str) -> PasskeyRecord:
        """The passkey the assertion names, if it is ``user_id``'s; else invalid_passkey."""
        passkey = await self.store.by_credential_id(assertion.credential_id)
        if passkey is None or passkey.user_id != user_id:
            raise InvalidPasskey()
        return passkey

    async def _use(
        self,
        passkey: PasskeyRecord,
        verified: VerifiedAssertion,
        user: UserRecord,
        client: ClientInfo,
        now: float,
        challenge_token: str,
        purpose: Purpose,
    ) -> None:
        """Spend the ceremony and move the counter forward, in one transaction."""
        try:
            async with self._db.write() as connection:
                await self._challenges.consume(
                    connection, challenge_token, purpose, now, InvalidPasskey
                )
                if not await self.store.use(
                    connection, passkey.id, verified.sign_count, verified.backed_up, now
                ):
                    raise _Regressed()
        except _Regressed:
            await self._spend(challenge_token, purpose)
            await self._cloned(passkey, verified, user, client)

    async def _spend(self, token: str, purpose: Purpose) -> None:
        """A ceremony whose answer was refused is over: it cannot be answered again."""
        with contextlib.suppress(InvalidMfaToken):  # already spent or expired: nothing to do
            async with self._db.write() as connection:
                await self._challenges.consume(connection, token, purpose, self._clock.now())

    async def _wrong(self, mfa_token: str, account: str) -> None:
        limit = self._settings.mfa_max_attempts
        await self._challenges.failed(mfa_token, Purpose.SIGN_IN, self._clock.now(), limit)
        await self._login_throttle.failed(account)

    async def _cloned(
        self,
        passkey: PasskeyRecord,
        verified: VerifiedAssertion,
        user: UserRecord,
        client: ClientInfo,
    ) -> NoReturn:
        """A genuine signature with a counter that went backwards: audited, mailed, refused."""
        await self._audit.record(
            AuditEvent(
                AuditEventType.PASSKEY_COUNTER_REGRESSED,
                at=self._clock.now(),
                user_id=passkey.user_id,
                ip=client.ip,
                user_agent=client.user_agent,
                detail={
                    "passkey_id": passkey.id,
                    "stored_count": passkey.sign_count,
                    "presented_count": verified.sign_count,
                },
            )
        )
        if self._outbox.mailer is not None:
            self._outbox.send_later(
                user.email,
                "A passkey was refused",
                _CLONED_MAIL.format(name=passkey.name),
                "second-factor notice",
            )
        raise PasskeyCloned()

    async def _user(self, user_id: str) -> UserRecord:
        user = await self._users.get(user_id)
        if user is None:
            raise SessionRevoked()
        return user


def _methods(verified: VerifiedAssertion) -> Sequence[str]:
    """RFC 8176 for a passkey alone: the key, and — when the authenticator verified the user
    (the PIN or biometric that unlocks it) — ``user`` and ``mfa``."""
    if verified.user_verified:
        return (verified.key_method, ceremonies.USER, ceremonies.MFA)
    return (verified.key_method,)


_CLONED_MAIL = (
    'Your passkey "{name}" was just used with a signature count older than before, so the '
    "sign-in was refused: a copy of the passkey may exist. If you did not copy it (for "
    "example by restoring a backup), remove that passkey from the Security page, add a new "
    "one, and ask an administrator to check your account.\n"
)
