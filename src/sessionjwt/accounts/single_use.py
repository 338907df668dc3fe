"""Single-use tokens mailed to a user: 32 random bytes, stored only as their SHA-256.

The database holds the digest, so a copy of the table proves nothing. Lookup is by digest
(an index probe on a value the caller cannot choose), then compared with
:func:`hmac.compare_digest`. :meth:`SingleUseTokens.use` is an ``UPDATE … WHERE used_at IS
NULL AND expires_at > now`` inside the caller's transaction, so exactly one use gets through
even when two requests race. Password resets (``password_resets``) and address proofs
(``email_tokens``, one row per purpose) are two instances of this one store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.audit.trail import AuditEvent, write_events
from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.errors import SessionJWTError


def new_token() -> tuple[str, str]:
    """A fresh token and the digest stored for it."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class LiveToken:
    user_id: str
    new_email: str | None = None


class SingleUseTokens:
    """The tokens of one ``table`` (and, in a table shared by purposes, of one ``purpose``);
    every refusal, whatever its reason, is ``refusal()``."""

    def __init__(
        self,
        database: Database,
        table: Table,
        refusal: Callable[[], SessionJWTError],
        purpose: str | None = None,
    ) -> None:
        self._db = database
        self._table = table
        self._refusal = refusal
        self._purpose = purpose

    def _mine(self) -> list[Any]:
        if self._purpose is None:
            return []
        return [self._table.c.purpose == self._purpose]

    async def store(
        self,
        user_id: str,
        token_hash: str,
        now: float,
        ttl: float,
        events: Sequence[AuditEvent],
        *,
        new_email: str | None = None,
    ) -> None:
        """Keep ``token_hash`` for ``user_id``; the user's older unused tokens stop working."""
        async with self._db.write() as connection:
            await self.supersede(connection, user_id, now)
            await self.insert(connection, user_id, token_hash, now, ttl, new_email=new_email)
            await write_events(connection, events)

    async def insert(
        self,
        connection: AsyncConnection,
        user_id: str,
        token_hash: str,
        now: float,
        ttl: float,
        *,
        new_email: str | None = None,
    ) -> None:
        """Within the caller's transaction: keep ``token_hash`` (older tokens untouched)."""
        values: dict[str, Any] = {
            "token_hash": token_hash,
            "user_id": user_id,
            "created_at": to_datetime(now),
            "expires_at": to_datetime(now + ttl),
        }
        if self._purpose is not None:
            values.update(purpose=self._purpose, new_email=new_email)
        await connection.execute(self._table.insert().values(**values))

    async def supersede(self, connection: AsyncConnection, user_id: str, now: float) -> None:
        """Within the caller's transaction: every unused token of ``user_id`` stops working."""
        table = self._table
        await connection.execute(
            update(table)
            .where(table.c.user_id == user_id, table.c.used_at.is_(None), *self._mine())
            .values(used_at=to_datetime(now))
        )

    async def owner(self, token: str, now: float) -> LiveToken:
        """Whose live token this is, or ``refusal()`` (for any reason)."""
        wanted = digest(token)
        table = self._table
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(table).where(table.c.token_hash == wanted, *self._mine())
                )
            ).first()
        if (
            row is None
            or not hmac.compare_digest(row.token_hash, wanted)
            or row.used_at is not None
            or row.expires_at <= to_datetime(now)
        ):
            raise self._refusal()
        return LiveToken(str(row.user_id), getattr(row, "new_email", None))

    async def use(
        self, connection: AsyncConnection, token: str, now: float, *, user_id: str | None = None
    ) -> None:
        """Within the caller's transaction: mark the token used, or ``refusal()`` if another
        request used it first (or it expired meanwhile); the caller's transaction then rolls
        back. With ``user_id``, only that user's token counts."""
        table = self._table
        at = to_datetime(now)
        conditions = [
            table.c.token_hash == digest(token),
            table.c.used_at.is_(None),
            table.c.expires_at > at,
            *self._mine(),
        ]
        if user_id is not None:
            conditions.append(table.c.user_id == user_id)
        used = await connection.execute(update(table).where(*conditions).values(used_at=at))
        if used.rowcount != 1:
            raise self._refusal()
