"""Password reset by mail, for a signed-out user: request a single-use link, then use it once
to set a new password and end every session of the account.

A request is answered before anything depends on the address: whether it has an account is
looked up in the background, with the link, its audit row and the mail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from sessionjwt.accounts.mailer import Outbox
from sessionjwt.accounts.password_reset import ResetTokens, new_token
from sessionjwt.accounts.passwords import PasswordHashing, PasswordPolicy
from sessionjwt.accounts.service import account_key
from sessionjwt.accounts.users import UserStore
from sessionjwt.audit.trail import AuditEvent, AuditEventType
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.errors import InvalidResetToken
from sessionjwt.sessions.revoke import Revoker
from sessionjwt.settings import Settings
from sessionjwt.support.background import Background
from sessionjwt.support.ratelimit import Throttle

logger = logging.getLogger("sessionjwt")


class PasswordResets:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        users: UserStore,
        tokens: ResetTokens,
        policy: PasswordPolicy,
        hashing: PasswordHashing,
        throttle: Throttle,
        revoker: Revoker,
        outbox: Outbox,
        background: Background,
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
        self._ready = ready

    async def request(self, email: str, client: ClientInfo | None = None) -> None:
        """Mail a single-use reset link if ``email`` has an account; the caller learns nothing.

        Before the answer runs only what decides whether there is one: the throttles, which
        count every address alike. The look-up, the reset and audit rows and the mail run in
        the background, so the answer and its timing are the same for any address."""
        await self._ready()
        client = client or ClientInfo()
        settings = self._settings
        if client.ip:
            await self._throttle.hit(settings.password_reset_rate_limit_ip, "reset-ip", client.ip)
        await self._throttle.hit(
            settings.password_reset_rate_limit_email, "reset-email", account_key(email)
        )
        work = self._issue(email, client, self._clock.now())
        self._background.start(work, "password-reset request")

    async def _issue(self, email: str, client: ClientInfo, now: float) -> None:
        """A request's work, after the answer: a link, audited, for an account that can use it."""
        user = await self._users.find_by_email(email)
        if user is None or user.disabled:
            return
        token, token_hash = new_token()
        event = AuditEvent(
            AuditEventType.PASSWORD_RESET_REQUESTED,
            at=now,
            user_id=user.id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        settings = self._settings
        ttl = settings.password_reset_ttl.total_seconds()
        await self._tokens.store(user.id, token_hash, now, ttl, [event])
        url = settings.resolved_password_reset_url
        if self._outbox.mailer is None or url is None:
            logger.warning(
                "password reset requested but no mail can be sent: set SESSIONJWT_SMTP_HOST "
                "and SESSIONJWT_PASSWORD_RESET_URL"
            )
            return
        minutes = max(1, round(ttl / 60))
        body = (
            "Someone asked to reset the password of this account.\n\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"{url.replace('{token}', token)}\n\n"
            "It works once. If you did not ask for this, ignore this message: your password "
            "stays as it is.\n"
        )
        await self._outbox.send(user.email, "Reset your password", body, "password-reset mail")

    async def confirm(
        self, token: str, new_password: str, client: ClientInfo | None = None
    ) -> None:
        """Use a reset token once: set the new password and end every session of the user."""
        await self._ready()
        client = client or ClientInfo()
        if client.ip:
            limit = self._settings.password_reset_rate_limit_ip
            await self._throttle.hit(limit, "reset-confirm-ip", client.ip)
        now = self._clock.now()
        user_id = (await self._tokens.owner(token, now)).user_id
        user = await self._users.get(user_id)
        if user is None:
            raise InvalidResetToken()
        self._policy.check(new_password, email=user.email_normalized)
        password_hash = await self._hashing.hash(new_password)
        event = AuditEvent(
            AuditEventType.PASSWORD_RESET,
            at=now,
            user_id=user_id,
            actor=user_id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        # One transaction uses the token, sets the password and moves the watermark; it is
        # audited as the reset and as sign-out-everywhere, as before.
        signed_out = replace(
            event, event=AuditEventType.SIGN_OUT_EVERYWHERE, detail={"kept_session": False}
        )
        _, generation = await self._tokens.consume(token, password_hash, now, [event, signed_out])
        await self._revoker.signed_out(user_id, generation)

    @property
    def mail_under_way(self) -> set[asyncio.Task[None]]:
        """The service's background work still running: reset requests (each ends once its
        mail is sent), address-verification and other mails alike."""
        return self._background.under_way

    async def close(self) -> None:
        """Let the work already under way finish, briefly."""
        await self._background.close()
