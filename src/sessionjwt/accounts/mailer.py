"""Outgoing mail over SMTP with the standard library, in a worker thread.

One seam, :class:`Mailer`; :func:`build_mailer` returns ``None`` when SMTP is not configured,
so a caller can say so loudly instead of pretending a message went out. :class:`Outbox` sends
in the background, so that whether a mail goes out (an account exists, say) never shows in
how long the request took.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

import anyio.to_thread

from sessionjwt.settings import Settings
from sessionjwt.support.background import Background

logger = logging.getLogger("sessionjwt")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        if settings.smtp_host is None:
            raise ValueError("SmtpMailer needs smtp_host")
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._security = settings.smtp_security
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._sender = settings.smtp_from
        self._timeout = settings.smtp_timeout.total_seconds()
        # Built once: loading the CA store costs milliseconds of CPU, which every mail paid.
        self._context = None if self._security == "none" else ssl.create_default_context()

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        await anyio.to_thread.run_sync(self._send_sync, message)

    def _send_sync(self, message: EmailMessage) -> None:
        context = self._context
        smtp: smtplib.SMTP
        if self._security == "tls":
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with smtp:
            if self._security == "starttls":
                smtp.starttls(context=context)
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password.get_secret_value())
            smtp.send_message(message)


def build_mailer(settings: Settings) -> SmtpMailer | None:
    return SmtpMailer(settings) if settings.smtp_host else None


class Outbox:
    """Mails sent in the background, after the answer; ``mailer`` None: nothing can be sent.

    Its jobs run in ``background``, shared with the other work done after an answer, so one
    :meth:`~sessionjwt.support.background.Background.drain` waits for all of it."""

    def __init__(self, mailer: Mailer | None, background: Background | None = None) -> None:
        self.mailer = mailer
        self.background = background or Background()

    @property
    def under_way(self) -> set[asyncio.Task[None]]:
        """The background jobs still running: mails, and work that ends in one."""
        return self.background.under_way

    def send_later(self, to: str, subject: str, body: str, what: str) -> None:
        """Queue one mail; ``what`` names it in the log if it fails ("password-reset mail")."""
        if self.mailer is None:
            return
        self.background.start(self.send(to, subject, body, what), what)

    async def send(self, to: str, subject: str, body: str, what: str) -> None:
        """Send one mail now, from work already in the background; a failure is logged."""
        if self.mailer is None:
            return
        try:
            await self.mailer.send(to, subject, body)
        except Exception as error:  # an SMTP failure must not kill the loop
            # The exception's text could echo the message; its type is enough to act on.
            logger.error("%s could not be sent: %s", what, type(error).__name__)

    async def close(self) -> None:
        """Let the work under way finish, briefly."""
        await self.background.close()
