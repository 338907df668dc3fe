"""The mail that tells a disabled account's owner why their sign-in was refused.

Password sign-in answers a disabled account exactly like a wrong password (401
``invalid_credentials``), so that a guesser cannot learn the password is right. The owner
learns the reason through the one channel the guesser does not hold: their mailbox. At most
one notice per account per :data:`NOTICE_LIMIT`, so failed sign-ins cannot be used to flood
anyone's inbox; none at all without SMTP.
"""

from __future__ import annotations

from sessionjwt.accounts.mailer import Outbox
from sessionjwt.accounts.users import UserRecord
from sessionjwt.clock import to_datetime
from sessionjwt.errors import RateLimited
from sessionjwt.support.ratelimit import Throttle

NOTICE_LIMIT = "1/day"
NOTICE_SCOPE = "disabled-notice"
SUBJECT = "Sign-in refused: your account is disabled"
BODY = (
    "Someone signed in to your account with its password at {at} (UTC) from {ip}, and was "
    "refused: the account is disabled. Ask an administrator why, or to enable it again.\n\n"
    "If this was not you, someone knows your password: reset it once the account is "
    "enabled.\n"
)


class DisabledSignInNotices:
    def __init__(self, outbox: Outbox, throttle: Throttle) -> None:
        self._outbox = outbox
        self._throttle = throttle

    async def refused(self, user: UserRecord, ip: str | None, at: float) -> None:
        """The right password reached a disabled account: mail its owner (in the background,
        coalesced to one mail per account and day)."""
        if self._outbox.mailer is None:
            return
        try:
            await self._throttle.hit(NOTICE_LIMIT, NOTICE_SCOPE, user.id)
        except RateLimited:
            return  # the owner was told already
        when = to_datetime(at).strftime("%Y-%m-%d %H:%M")
        body = BODY.format(at=when, ip=ip or "an unknown address")
        self._outbox.send_later(user.email, SUBJECT, body, "disabled-account notice")
