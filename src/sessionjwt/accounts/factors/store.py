"""The SQL behind TOTP and recovery codes, and what factors a user has.

The TOTP secret is wrapped under the master key like a signing key ("totp:<user_id>" as
associated data, so a blob copied to another user's row does not open). Acceptance of a
code is one conditional UPDATE that moves ``last_used_step`` forward: a second use of the
same code — or of any older one — changes no row and is refused, even when two requests race.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.accounts.factors.recovery_codes import code_hash
from sessionjwt.audit.trail import AuditEvent, write_events
from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import passkeys, recovery_codes, totp_factors
from sessionjwt.keys.master.keyset import MasterKeys
from sessionjwt.keys.sealed import totp_associated_data


@dataclass(frozen=True, slots=True)
class TotpState:
    secret: str
    confirmed: bool
    last_used_step: int | None


@dataclass(frozen=True, slots=True)
class FactorSummary:
    """What a user has set up, never the secrets: for the sign-in answer and the pages."""

    totp: bool
    passkeys: int
    recovery_codes_left: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0

    @property
    def methods(self) -> list[str]:
        """The ways to complete a sign-in, in the order the pages offer them."""
        methods = []
        if self.totp:
            methods.append("totp")
        if self.passkeys:
            methods.append("webauthn")
        if self.any and self.recovery_codes_left:
            methods.append("recovery_code")
        return methods


@dataclass(frozen=True, slots=True)
class PasskeyListing:
    """One passkey as an operator sees it: its name and dates, never its key material."""

    name: str
    created_at: datetime
    last_used_at: datetime | None


class FactorStore:
    def __init__(self, database: Database, master_keys: Callable[[], MasterKeys]) -> None:
        self._db = database
        self._master_keys = master_keys

    async def summary(self, user_id: str) -> FactorSummary:
        async with self._db.read() as connection:
            totp = await connection.scalar(
                select(func.count())
                .select_from(totp_factors)
                .where(totp_factors.c.user_id == user_id, totp_factors.c.confirmed_at.is_not(None))
            )
            keys = await connection.scalar(
                select(func.count()).select_from(passkeys).where(passkeys.c.user_id == user_id)
            )
            codes = await connection.scalar(
                select(func.count())
                .select_from(recovery_codes)
                .where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
            )
        return FactorSummary(bool(totp), int(keys or 0), int(codes or 0))

    async def passkey_listing(self, user_id: str) -> list[PasskeyListing]:
        """The user's passkeys, oldest first (for ``sessionjwt users show``)."""
        async with self._db.read() as connection:
            rows = (
                await connection.execute(
                    select(passkeys.c.name, passkeys.c.created_at, passkeys.c.last_used_at)
                    .where(passkeys.c.user_id == user_id)
                    .order_by(passkeys.c.created_at, passkeys.c.id)
                )
            ).all()
        return [PasskeyListing(row.name, row.created_at, row.last_used_at) for row in rows]

    # -- TOTP -------------------------------------------------------------------------------

    async def totp(self, user_id: str) -> TotpState | None:
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(totp_factors).where(totp_factors.c.user_id == user_id)
                )
            ).first()
        if row is None:
            return None
        secret, _ = self._master_keys().unwrap(
            totp_associated_data(user_id), row.secret_sealed, row.master_key_id, what="TOTP secret"
        )
        return TotpState(secret.decode("ascii"), row.confirmed_at is not None, row.last_used_step)

    async def start_totp(self, user_id: str, secret: str, now: float) -> None:
        """Keep a new, unconfirmed secret (replacing an unconfirmed one; a confirmed one is
        the caller's to refuse first)."""
        blob, key_id = self._master_keys().wrap(
            totp_associated_data(user_id), secret.encode("ascii")
        )
        async with self._db.write() as connection:
            await connection.execute(
                delete(totp_factors).where(
                    totp_factors.c.user_id == user_id, totp_factors.c.confirmed_at.is_(None)
                )
            )
            await connection.execute(
                totp_factors.insert().values(
                    user_id=user_id,
                    secret_sealed=blob,
                    master_key_id=key_id,
                    created_at=to_datetime(now),
                )
            )

    async def use_totp_step(
        self,
        connection: AsyncConnection,
        user_id: str,
        step: int,
        now: float,
        *,
        confirming: bool = False,
    ) -> bool:
        """Within the caller's transaction: accept the code of ``step`` once. False if this
        step (or a later one) was already used — a replay. ``confirming``: the first code of
        an enrolment, which also makes the authenticator count."""
        table = totp_factors
        values: dict[str, object] = {"last_used_step": step}
        if confirming:
            confirmed = table.c.confirmed_at.is_(None)
            values["confirmed_at"] = to_datetime(now)
        else:
            confirmed = table.c.confirmed_at.is_not(None)
        changed = await connection.execute(
            update(table)
            .where(
                table.c.user_id == user_id,
                confirmed,
                or_(table.c.last_used_step.is_(None), table.c.last_used_step < step),
            )
            .values(**values)
        )
        return changed.rowcount == 1

    async def remove_totp(self, user_id: str, events: Sequence[AuditEvent] = ()) -> bool:
        async with self._db.write() as connection:
            removed = await connection.execute(
                delete(totp_factors).where(totp_factors.c.user_id == user_id)
            )
            if removed.rowcount:
                await write_events(connection, events)
        return bool(removed.rowcount)

    # -- recovery codes ---------------------------------------------------------------------

    async def replace_recovery_codes(
        self,
        connection: AsyncConnection,
        user_id: str,
        codes: Sequence[str],
        now: float,
    ) -> None:
        """Within the caller's transaction: the user's codes become exactly ``codes``."""
        await connection.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        if codes:
            await connection.execute(
                recovery_codes.insert(),
                [
                    {
                        "code_hash": code_hash(code),
                        "user_id": user_id,
                        "created_at": to_datetime(now),
                    }
                    for code in codes
                ],
            )

    async def use_recovery_code(
        self, connection: AsyncConnection, user_id: str, code: str, now: float
    ) -> bool:
        """Within the caller's transaction: spend one unused code of ``user_id``."""
        used = await connection.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.code_hash == code_hash(code),
                recovery_codes.c.user_id == user_id,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=to_datetime(now))
        )
        return used.rowcount == 1

    async def reset(self, user_id: str, events: Sequence[AuditEvent] = ()) -> FactorSummary:
        """Remove every factor of ``user_id`` (an administrator's reset); what there was."""
        before = await self.summary(user_id)
        async with self._db.write() as connection:
            for table in (totp_factors, recovery_codes, passkeys):
                await connection.execute(delete(table).where(table.c.user_id == user_id))
            await write_events(connection, events)
        return before
