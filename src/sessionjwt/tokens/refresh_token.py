"""Refresh tokens: ``<session id>.<secret>``, opaque, stored only as a SHA-256 hash.

Successors form a keyed hash chain: ``next = HMAC(k, sid || secret)`` with ``k`` derived from
the master key. That gives three properties without storing any plaintext:

* two concurrent refreshes with the same token compute the *same* successor, so the loser of
  the compare-and-swap can hand back the winner's token instead of starting a second chain;
* any genuine ancestor of the current token can be recognised by walking the chain forward
  (bounded), so replaying an old token is detected as theft and revokes the session;
* a guessed or forged secret matches nothing, so it never revokes anyone's session.

Without ``k`` nobody, including a thief holding an old token, can compute a later one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from sessionjwt.errors import InvalidToken
from sessionjwt.identifiers import new_identifier

SESSION_ID_BYTES = 24  # 192 bits from the CSPRNG
SECRET_BYTES = 32
_REFRESH_TOKEN = re.compile(r"([A-Za-z0-9_-]{32})\.([A-Za-z0-9_-]{43})")
_DOMAIN = b"sessionjwt/refresh-successor/v1\x00"


def new_session_id() -> str:
    return new_identifier(SESSION_ID_BYTES)


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def format_refresh_token(session_id: str, secret: str) -> str:
    return f"{session_id}.{secret}"


def parse_refresh_token(token: str) -> tuple[str, str]:
    match = _REFRESH_TOKEN.fullmatch(token) if len(token) <= 80 else None
    if match is None:
        raise InvalidToken("not a refresh token")
    return match.group(1), match.group(2)


class SuccessorChain:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def successor(self, session_id: str, secret: str) -> str:
        digest = hmac.digest(
            self._key, _DOMAIN + session_id.encode() + b"\x00" + secret.encode(), "sha256"
        )
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def generations_behind(
        self, session_id: str, presented: str, current_hash: str, max_steps: int
    ) -> int | None:
        """How many rotations ago ``presented`` was current (0 = it is current), or None."""
        secret = presented
        for steps in range(max_steps + 1):
            if hmac.compare_digest(hash_secret(secret), current_hash):
                return steps
            secret = self.successor(session_id, secret)
        return None
