"""E-mail verification, uniform sign-up and e-mail change.

With ``email_verification`` on (``optional`` or ``required``), self-service sign-up answers
the same whether or not the address has an account, and costs the same: one argon2 hash, a
user lookup, one write (a new account and its link; or, for a taken address, the audit row
and the superseding of that account's pending links), and a mail sent in the background —
a verification link to a new address, a "someone tried to sign up with your address" notice
to a taken one. Which mail went out is known only to whoever reads that mailbox.

A verification proves the mailbox, not who chose the password: an address signed up by
somebody else keeps their password until its owner resets it. So a second sign-up for a
pending address supersedes its links and tells the owner to reset the password, and a
password reset marks the address verified (:mod:`sessionjwt.accounts.password_reset`).

An e-mail change needs the password (behind the login defences, like a password change),
mails a link to the new address and a notice to the old one, and is confirmed by the same
signed-in user with that link: the address is set (the unique index settles races), proven,
audited, and every other session of the user ends, as after a password change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError

from sessionjwt.accounts.mailer import Outbox
from sessionjwt.accounts.passwords import PasswordHashing, PasswordPolicy
from sessionjwt.accounts.service import account_key
from sessionjwt.accounts.single_use import SingleUseTokens, new_token
from sessionjwt.accounts.users import UserRecord, UserStore, insert_record, normalise_email
from sessionjwt.audit.trail import AuditEvent, AuditEventType, write_events
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import email_tokens, users
from sessionjwt.errors import EmailTaken, InvalidEmail, InvalidVerificationToken
from sessionjwt.principal import Principal
from sessionjwt.sessions.revoke import Revoker
from sessionjwt.settings import Settings
from sessionjwt.support.background import Background
from sessionjwt.support.ratelimit import Throttle

logger = logging.getLogger("sessionjwt")

VERIFY_EMAIL = "verify_email"
CHANGE_EMAIL = "change_email"
VERIFY_SUBJECT = "Confirm your email address"

ConfirmPassword = Callable[[Principal, str, ClientInfo, str], Awaitable[UserRecord]]


class EmailTokens:
    """The ``email_tokens`` table: a store per purpose, and the writes that use one."""

    def __init__(self, database: Database) -> None:
        self._db = database
        refusal = InvalidVerificationToken
        self.verify = SingleUseTokens(database, email_tokens, refusal, VERIFY_EMAIL)
        self.change = SingleUseTokens(database, email_tokens, refusal, CHANGE_EMAIL)

    async def create_account(
        self,
        record: UserRecord,
        token_hash: str,
        now: float,
        ttl: float,
        events: Sequence[AuditEvent],
    ) -> None:
        """A new account and its first verification link, in one write (like
        :meth:`attempted` for a taken address); :class:`EmailTaken` if the address has one."""
        try:
            async with self._db.write() as connection:
                await insert_record(connection, record)
                await self.verify.insert(connection, record.id, token_hash, now, ttl)
                await write_events(connection, events)
        except IntegrityError as error:
            raise EmailTaken() from error

    async def attempted(
        self, tokens: SingleUseTokens, user_id: str, now: float, events: Sequence[AuditEvent]
    ) -> None:
        """A request that issues no link (its address is taken): ``user_id``'s pending links
        of that purpose stop working, and it is audited — one write, like issuing one."""
        async with self._db.write() as connection:
            await tokens.supersede(connection, user_id, now)
            await write_events(connection, events)

    async def confirm_address(self, token: str, now: float, events: Sequence[AuditEvent]) -> str:
        """Use a verification token once and mark its user's address proven; the user id."""
        user_id = (await self.verify.owner(token, now)).user_id
        async with self._db.write() as connection:
            await self.verify.use(connection, token, now, user_id=user_id)
            proven = func.coalesce(users.c.email_verified_at, to_datetime(now))
            await connection.execute(
                update(users).where(users.c.id == user_id).values(email_verified_at=proven)
            )
            await write_events(connection, [replace(event, user_id=user_id) for event in events])
        return user_id

    async def change_address(
        self, token: str, user_id: str, new_email: str, now: float, events: Sequence[AuditEvent]
    ) -> None:
        """Use ``user_id``'s change token once and move the account to ``new_email``, proven
        by the link; every other pending link of the user stops working. :class:`EmailTaken`
        if another account took the address meanwhile (the unique index decides)."""
        try:
            async with self._db.write() as connection:
                await self.change.use(connection, token, now, user_id=user_id)
                await connection.execute(
                    update(users)
                    .where(users.c.id == user_id)
                    .values(
                        email=new_email,
                        email_normalized=normalise_email(new_email),
                        email_verified_at=to_datetime(now),
                    )
                )
                await self.verify.supersede(connection, user_id, now)
                await self.change.supersede(connection, user_id, now)
                await write_events(connection, events)
        except IntegrityError as error:
            raise EmailTaken() from error


class EmailVerification:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        users: UserStore,
        tokens: EmailTokens,
        policy: PasswordPolicy,
        hashing: PasswordHashing,
        throttle: Throttle,
        revoker: Revoker,
        outbox: Outbox,
        background: Background,
        confirm_password: ConfirmPassword,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._users = users
        self._tokens = tokens
        self._policy = policy
        self._hashing = hashing
        self._throttle = throttle
        self._revoker = revoker
        self._outbox = outbox
        self._background = background
        self._confirm_password = confirm_password
        self._ready = ready

    @property
    def enabled(self) -> bool:
        """Whether self-service sign-up goes through :meth:`sign_up` (202) at all."""
        return self._settings.email_verification != "off"

    # -- sign-up -------------------------------------------------------------------------

    async def sign_up(self, email: str, password: str, client: ClientInfo | None = None) -> None:
        """Self-service sign-up that tells the caller nothing about the address.

        Refusals depend on the input only (an invalid address or a weak password: 422) or
        on counters that count every attempt alike (429). Past them, a new address and a
        taken one cost the same work and answer the same; only the mail differs."""
        await self._ready()
        client = client or ClientInfo()
        settings = self._settings
        if client.ip:
            await self._throttle.hit(settings.register_rate_limit_ip, "register-ip", client.ip)
        normalized = normalise_email(email)
        self._policy.check(password, email=normalized)
        await self._throttle.hit(
            settings.email_verification_rate_limit_email, "signup-email", normalized
        )
        password_hash = await self._hashing.hash(password)  # for a taken address too
        token, token_hash = new_token()
        now = self._clock.now()
        existing = await self._users.find_by_email(normalized)
        if existing is None:
            user = _new_user(email, normalized, password_hash, now)
            events = [
                self._event(AuditEventType.REGISTER, user.id, client, actor=user.id),
                self._event(AuditEventType.EMAIL_VERIFICATION_SENT, user.id, client),
            ]
            try:
                await self._tokens.create_account(user, token_hash, now, self._ttl, events)
            except EmailTaken:  # another sign-up for the address won the race
                existing = await self._users.find_by_email(normalized)
            else:
                self._mail_link(user.email, token)
                return
        if existing is None:  # created and deleted within this request: say nothing either
            return
        event = self._event(AuditEventType.REGISTER_EXISTING_EMAIL, existing.id, client)
        # Its pending links may have been asked for by somebody else: they stop working.
        await self._tokens.attempted(self._tokens.verify, existing.id, now, [event])
        if not existing.disabled:
            self._mail_existing(existing.email)

    async def resend(self, email: str, client: ClientInfo | None = None) -> None:
        """Mail a fresh verification link if ``email`` has an unverified account (the older
        links stop working); the caller learns nothing either way.

        Only the throttles, which count every address alike, run before the answer; the
        look-up and what follows run in the background, so its timing says nothing either."""
        await self._ready()
        client = client or ClientInfo()
        settings = self._settings
        if client.ip:
            limit = settings.email_verification_rate_limit_ip
            await self._throttle.hit(limit, "verify-resend-ip", client.ip)
        await self._throttle.hit(
            settings.email_verification_rate_limit_email, "verify-resend-email", account_key(email)
        )
        event = self._event(AuditEventType.EMAIL_VERIFICATION_SENT, None, client)
        work = self._resend(email, event)
        self._background.start(work, "verification resend")

    async def _resend(self, email: str, event: AuditEvent) -> None:
        """A resend's work, after the answer (like a password-reset request's): a new link,
        audited, for an account still to be confirmed."""
        user = await self._users.find_by_email(email)
        if user is None or user.disabled or user.email_verified:
            return
        token, token_hash = new_token()
        event = replace(event, user_id=user.id)
        await self._tokens.verify.store(user.id, token_hash, event.at, self._ttl, [event])
        body = self._link_body(token)
        if body is not None:
            await self._outbox.send(user.email, VERIFY_SUBJECT, body, "verification mail")

    async def verify(self, token: str, client: ClientInfo | None = None) -> None:
        """Use a verification link once: the account's address is proven."""
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            limit = self._settings.email_verification_rate_limit_ip
            await self._throttle.hit(limit, "verify-ip", client.ip)
        now = self._clock.now()
        event = self._event(AuditEventType.EMAIL_VERIFIED, None, client)
        user_id = await self._tokens.confirm_address(token, now, [event])
        await self._revoker.user_changed(user_id)  # principals now say email_verified

    # -- e-mail change -------------------------------------------------------------------

    async def change_email(
        self,
        principal: Principal,
        new_email: str,
        password: str,
        client: ClientInfo | None = None,
    ) -> None:
        """Check the password (throttled like a login), then mail a confirmation link to
        ``new_email`` and a notice to the current address. A taken ``new_email`` gets a
        notice instead of a link, and the caller learns nothing about it."""
        await self._ready()
        client = client or ClientInfo()
        user = await self._confirm_password(principal, password, client, "email-change")
        normalized = normalise_email(new_email)
        if normalized == user.email_normalized:
            raise InvalidEmail("That is already the account's email address.")
        await self._throttle.hit(
            self._settings.email_verification_rate_limit_email, "email-change-email", normalized
        )
        token, token_hash = new_token()
        now = self._clock.now()
        event = self._event(
            AuditEventType.EMAIL_CHANGE_REQUESTED,
            user.id,
            client,
            actor=user.id,
            session_id=principal.session_id,
        )
        if await self._users.find_by_email(normalized) is None:
            await self._tokens.change.store(
                user.id, token_hash, now, self._ttl, [event], new_email=new_email.strip()
            )
            self._mail_change_link(new_email.strip(), token)
        else:
            await self._tokens.attempted(self._tokens.change, user.id, now, [event])
            self._mail_change_taken(new_email.strip())
        self._mail_change_notice(user.email, new_email.strip())

    async def confirm_change(
        self, principal: Principal, token: str, client: ClientInfo | None = None
    ) -> None:
        """Use the change link once, as the user who asked for it: the account moves to the
        new address, and every other session of the user ends (the caller's stays)."""
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            limit = self._settings.email_verification_rate_limit_ip
            await self._throttle.hit(limit, "email-confirm-ip", client.ip)
        now = self._clock.now()
        live = await self._tokens.change.owner(token, now)
        if live.user_id != principal.user_id or live.new_email is None:
            raise InvalidVerificationToken()
        event = self._event(
            AuditEventType.EMAIL_CHANGED,
            principal.user_id,
            client,
            actor=principal.user_id,
            session_id=principal.session_id,
            detail={"old_email": principal.email, "new_email": live.new_email},
        )
        await self._tokens.change_address(token, principal.user_id, live.new_email, now, [event])
        await self._revoker.revoke_user_sessions(
            principal.user_id,
            keep_session_id=principal.session_id,
            actor=principal.user_id,
            client=client,
        )
        await self._revoker.user_changed(principal.user_id)  # the kept session's new address

    # -- what is mailed ------------------------------------------------------------------

    @property
    def _ttl(self) -> float:
        return self._settings.email_verification_ttl.total_seconds()

    def _within(self) -> str:
        hours = self._ttl / 3600
        if hours >= 2:
            return f"{round(hours)} hours"
        return f"{max(1, round(self._ttl / 60))} minutes"

    def _page(self, path: str) -> str | None:
        if not self._settings.pages_enabled:
            return None
        return f"{self._settings.issuer.rstrip('/')}{path}"

    def _link(self, url: str | None, setting: str, token: str) -> str | None:
        """The link to mail, or None (said loudly) when no mail can carry one."""
        if self._outbox.mailer is None or url is None:
            logger.warning(
                "an address-confirmation mail is due but cannot be sent: set "
                "SESSIONJWT_SMTP_HOST and %s",
                setting,
            )
            return None
        return url.replace("{token}", token)

    def _mail_link(self, to: str, token: str) -> None:
        body = self._link_body(token)
        if body is not None:
            self._outbox.send_later(to, VERIFY_SUBJECT, body, "verification mail")

    def _link_body(self, token: str) -> str | None:
        """The verification mail carrying ``token``, or None (said loudly) if none can go."""
        url = self._settings.resolved_email_verification_url
        link = self._link(url, "SESSIONJWT_EMAIL_VERIFICATION_URL", token)
        if link is None:
            return None
        return (
            "Someone signed up with this email address.\n\n"
            f"To confirm it is yours, open this link within {self._within()}:\n\n"
            f"{link}\n\n"
            "It works once. If you did not sign up, ignore this message and do not open the "
            "link: without it the account cannot use this address.\n"
        )

    def _mail_existing(self, to: str) -> None:
        if self._outbox.mailer is None:
            return
        sign_in = self._page("/signin")
        reset = self._page("/password-reset")
        where = f"\n\n  Sign in: {sign_in}\n  Reset your password: {reset}" if sign_in else ""
        body = (
            "Someone tried to create an account with this email address, but it already has "
            "one.\n\n"
            "If it was you, sign in, or reset your password if you forgot it. If you never "
            "finished signing up, reset your password: that also confirms this address."
            f"{where}\n\n"
            "If it was not you, ignore this message: nothing about your account changed.\n"
        )
        self._outbox.send_later(
            to, "Someone tried to sign up with your address", body, "sign-up notice mail"
        )

    def _mail_change_link(self, to: str, token: str) -> None:
        url = self._settings.resolved_email_change_url
        link = self._link(url, "SESSIONJWT_EMAIL_CHANGE_URL", token)
        if link is None:
            return
        body = (
            "Someone asked to move their account to this email address.\n\n"
            f"To confirm, open this link within {self._within()} while signed in to that "
            f"account:\n\n{link}\n\n"
            "It works once. If you did not ask for this, ignore this message.\n"
        )
        self._outbox.send_later(to, "Confirm your new email address", body, "e-mail change mail")

    def _mail_change_taken(self, to: str) -> None:
        body = (
            "Someone asked to move another account to this email address, which already has "
            "an account. Nothing changed; if it was you, sign in to this address's account "
            "instead.\n"
        )
        self._outbox.send_later(
            to, "Someone tried to use your address", body, "e-mail change notice mail"
        )

    def _mail_change_notice(self, to: str, new_email: str) -> None:
        body = (
            f"Someone asked to change the email address of your account to {new_email}.\n\n"
            "The change happens only when the link mailed to the new address is opened. If "
            "it was not you, change your password now: whoever asked knows it.\n"
        )
        self._outbox.send_later(
            to, "Your email address is being changed", body, "e-mail change notice mail"
        )

    def _event(
        self,
        kind: AuditEventType,
        user_id: str | None,
        client: ClientInfo,
        *,
        actor: str | None = None,
        session_id: str | None = None,
        detail: dict[str, str] | None = None,
    ) -> AuditEvent:
        return AuditEvent(
            kind,
            at=self._clock.now(),
            user_id=user_id,
            session_id=session_id,
            actor=actor,
            ip=client.ip,
            user_agent=client.user_agent,
            detail=dict(detail or {}),
        )


def _new_user(email: str, normalized: str, password_hash: str, now: float) -> UserRecord:
    return UserRecord(
        id=str(uuid.uuid4()),
        email=email.strip(),
        email_normalized=normalized,
        password_hash=password_hash,
        roles=(),
        created_at=to_datetime(now),
        disabled_at=None,
        session_generation=0,
    )
