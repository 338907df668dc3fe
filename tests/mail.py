"""A real SMTP server for the tests: aiosmtpd on a free 127.0.0.1 port, keeping what it accepts.

Used in-process by ``tests/test_password_reset.py`` and by the browser tests, whose server is a
separate ``sessionjwt serve`` process that sends its reset mail here in the background.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server accepted: (recipients, parsed message); ``link`` finds the reset
    link in a mail's plain-text body, its first group being the token."""

    link: re.Pattern[str]
    messages: list[tuple[list[str], email.message.EmailMessage]] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition, repr=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append((list(envelope.rcpt_tos), message))
            self._arrived.notify_all()
        return "250 OK"

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        with self._arrived:
            return [message for to, message in self.messages if address in to]

    def text_for(self, address: str) -> str:
        """The plain-text body of the newest mail to ``address``."""
        mails = self.mails_to(address)
        assert mails, f"no mail for {address}"
        body = mails[-1].get_body(("plain",))
        assert body is not None
        text: str = body.get_content()
        return text

    def token_for(self, address: str) -> str:
        text = self.text_for(address)
        found = self.link.search(text)
        assert found, text
        return found.group(1)

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> None:
        """Block until ``count`` mails to ``address`` arrived (another process sends them)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len([1 for to, _ in self.messages if address in to]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no mail for {address} within {timeout} s"
                self._arrived.wait(left)


@contextmanager
def smtp_server(inbox: Inbox) -> Iterator[int]:
    """Run a local SMTP server delivering into ``inbox``; yields its port."""
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def smtp_settings(port: int, **overrides: object) -> dict[str, object]:
    """The settings that send mail to :func:`smtp_server` on ``port`` (plain SMTP)."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_from": "accounts@example.test",
        **overrides,
    }
