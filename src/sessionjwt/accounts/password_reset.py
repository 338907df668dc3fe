"""Password-reset tokens: single-use, short-lived, stored only as their SHA-256.

The token is 32 random bytes (``secrets.token_urlsafe``); the database holds its digest, so
a copy of the table resets nothing. Lookup is by digest (an index probe on a value the
caller cannot choose), then compared with :func:`hmac.compare_digest`. Consuming a token,
setting the new password hash and writing the audit event are one transaction whose
``UPDATE … WHERE used_at IS NULL AND expires_at > now`` lets exactly one use through.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlalchemy import select, update

from sessionjwt.audit.trail import AuditEvent, write_events
from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import password_resets, users
from sessionjwt.errors import InvalidResetToken


def new_token() -> tuple[str, str]:
    """A fresh token and the digest stored for it."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ResetTokens:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def store(
        self, user_id: str, token_hash: str, now: float, ttl: float, events: Sequence[AuditEvent]
    ) -> None:
        """Keep ``token_hash`` for ``user_id``; the user's older unused tokens stop working."""
        at = to_datetime(now)
        async with self._db.write() as connection:
            await connection.execute(
                update(password_resets)
                .where(password_resets.c.user_id == user_id, password_resets.c.used_at.is_(None))
                .values(used_at=at)
            )
            await connection.execute(
                password_resets.insert().values(
                    token_hash=token_hash,
                    user_id=user_id,
                    created_at=at,
                    expires_at=to_datetime(now + ttl),
                )
            )
            await write_events(connection, events)

    async def owner(self, token: str, now: float) -> str:
        """The user a live token belongs to, or :class:`InvalidResetToken` (for any reason)."""
        wanted = digest(token)
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(password_resets).where(password_resets.c.token_hash == wanted)
                )
            ).first()
        if (
            row is None
            or not hmac.compare_digest(row.token_hash, wanted)
            or row.used_at is not None
            or row.expires_at <= to_datetime(now)
        ):
            raise InvalidResetToken()
        return str(row.user_id)

    async def consume(
        self, token: str, password_hash: str, now: float, events: Sequence[AuditEvent]
    ) -> tuple[str, int]:
        """Use the token once, set the user's password hash and end every session of theirs
        (the watermark moves); the user id and the new watermark."""
        user_id = await self.owner(token, now)
        at = to_datetime(now)
        async with self._db.write() as connection:
            used = await connection.execute(
                update(password_resets)
                .where(
                    password_resets.c.token_hash == digest(token),
                    password_resets.c.used_at.is_(None),
                    password_resets.c.expires_at > at,
                )
                .values(used_at=at)
            )
            if used.rowcount != 1:
                raise InvalidResetToken()  # another request used it first; rolls back
            # The watermark moves in the same transaction: once the new password is set, no
            # session from before it can live on, even if what follows fails.
            moved = await connection.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    password_hash=password_hash,
                    session_generation=users.c.session_generation + 1,
                )
                .returning(users.c.session_generation)
            )
            generation = int(moved.scalar_one())
            await write_events(connection, [_with_user(event, user_id) for event in events])
        return user_id, generation


def _with_user(event: AuditEvent, user_id: str) -> AuditEvent:
    from dataclasses import replace

    return replace(event, user_id=user_id)
