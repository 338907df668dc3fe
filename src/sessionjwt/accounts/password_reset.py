"""Password-reset tokens: single-use, short-lived, stored only as their SHA-256 (see
:mod:`sessionjwt.accounts.single_use`, which also keeps the address proofs).

Consuming a token, setting the new password hash and writing the audit event are one
transaction whose ``UPDATE … WHERE used_at IS NULL AND expires_at > now`` lets exactly one use
through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import func, update

from sessionjwt.accounts.single_use import SingleUseTokens, digest, new_token
from sessionjwt.audit.trail import AuditEvent, write_events
from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import password_resets, users
from sessionjwt.errors import InvalidResetToken

__all__ = ["ResetTokens", "digest", "new_token"]


class ResetTokens(SingleUseTokens):
    def __init__(self, database: Database) -> None:
        super().__init__(database, password_resets, InvalidResetToken)

    async def consume(
        self, token: str, password_hash: str, now: float, events: Sequence[AuditEvent]
    ) -> tuple[str, int]:
        """Use the token once, set the user's password hash and end every session of theirs
        (the watermark moves); the user id and the new watermark.

        The link reached the account's mailbox, so an address not yet verified is verified
        now (and whoever had signed the address up with another password is locked out)."""
        user_id = (await self.owner(token, now)).user_id
        at = to_datetime(now)
        async with self._db.write() as connection:
            await self.use(connection, token, now)
            # The watermark moves in the same transaction: once the new password is set, no
            # session from before it can live on, even if what follows fails.
            moved = await connection.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    password_hash=password_hash,
                    session_generation=users.c.session_generation + 1,
                    email_verified_at=func.coalesce(users.c.email_verified_at, at),
                )
                .returning(users.c.session_generation)
            )
            generation = int(moved.scalar_one())
            await write_events(connection, [replace(event, user_id=user_id) for event in events])
        return user_id, generation
