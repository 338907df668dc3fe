"""The SQL behind passkeys: a user's WebAuthn credentials, their names and their counters.

A credential is found by its id (base64url, unique across users: the browser names it in
every assertion). Its signature counter only moves forward, and the move is one conditional
``UPDATE … WHERE sign_count < :new``: an assertion carrying an older count — a copy of the
credential, or a replay racing the original — changes no row and is refused by the caller.
Authenticators without a counter always send 0, and 0 after 0 is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import passkeys

NAME_MAX = 64  # passkeys.name
CREDENTIAL_ID_MAX = 1400  # passkeys.credential_id (base64url of WebAuthn's 1023-byte maximum)
TRANSPORTS_MAX = 128  # passkeys.transports


@dataclass(frozen=True, slots=True)
class PasskeyRecord:
    id: str
    user_id: str
    credential_id: str  # base64url
    public_key: bytes  # COSE_Key, as the authenticator made it
    sign_count: int
    name: str
    transports: tuple[str, ...]
    aaguid: str | None
    backed_up: bool
    created_at: datetime
    last_used_at: datetime | None


class DuplicateCredential(Exception):
    """The credential id is registered already (to this user or another)."""


class PasskeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, connection: AsyncConnection, record: PasskeyRecord) -> None:
        """Within the caller's transaction; :class:`DuplicateCredential` if the id is taken
        (the transaction is then unusable: let it roll back)."""
        try:
            await connection.execute(
                passkeys.insert().values(
                    id=record.id,
                    user_id=record.user_id,
                    credential_id=record.credential_id,
                    public_key=record.public_key,
                    sign_count=record.sign_count,
                    name=record.name,
                    transports=",".join(record.transports) or None,
                    aaguid=record.aaguid,
                    backed_up=int(record.backed_up),
                    created_at=record.created_at,
                    last_used_at=record.last_used_at,
                )
            )
        except IntegrityError:
            raise DuplicateCredential() from None

    async def for_user(self, user_id: str) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first."""
        async with self._db.read() as connection:
            rows = (
                await connection.execute(
                    select(passkeys)
                    .where(passkeys.c.user_id == user_id)
                    .order_by(passkeys.c.created_at, passkeys.c.id)
                )
            ).all()
        return [_record(row) for row in rows]

    async def by_credential_id(self, credential_id: str) -> PasskeyRecord | None:
        if len(credential_id) > CREDENTIAL_ID_MAX:
            return None
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(passkeys).where(passkeys.c.credential_id == credential_id)
                )
            ).first()
        return None if row is None else _record(row)

    async def get(self, user_id: str, passkey_id: str) -> PasskeyRecord | None:
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(passkeys).where(
                        passkeys.c.id == passkey_id, passkeys.c.user_id == user_id
                    )
                )
            ).first()
        return None if row is None else _record(row)

    async def rename(self, user_id: str, passkey_id: str, name: str) -> bool:
        async with self._db.write() as connection:
            changed = await connection.execute(
                update(passkeys)
                .where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
                .values(name=name)
            )
        return changed.rowcount == 1

    async def remove(self, user_id: str, passkey_id: str) -> bool:
        async with self._db.write() as connection:
            removed = await connection.execute(
                delete(passkeys).where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
            )
        return removed.rowcount == 1

    async def use(
        self,
        connection: AsyncConnection,
        passkey_id: str,
        sign_count: int,
        backed_up: bool,
        now: float,
    ) -> bool:
        """Within the caller's transaction: record a verified assertion. False — nothing
        changed — if ``sign_count`` does not move the stored counter forward (0 after 0 is
        an authenticator without a counter, and accepted)."""
        forward = (
            passkeys.c.sign_count == 0 if sign_count == 0 else passkeys.c.sign_count < sign_count
        )
        changed = await connection.execute(
            update(passkeys)
            .where(passkeys.c.id == passkey_id, forward)
            .values(sign_count=sign_count, backed_up=int(backed_up), last_used_at=to_datetime(now))
        )
        return changed.rowcount == 1


def transports_text(transports: Sequence[str]) -> tuple[str, ...]:
    """The transports an authenticator named, as many as fit the column."""
    kept: list[str] = []
    for transport in transports:
        if len(",".join([*kept, transport])) > TRANSPORTS_MAX:
            break
        kept.append(transport)
    return tuple(kept)


def _record(row: object) -> PasskeyRecord:
    values = row._mapping  # type: ignore[attr-defined]
    transports = values["transports"]
    return PasskeyRecord(
        id=values["id"],
        user_id=values["user_id"],
        credential_id=values["credential_id"],
        public_key=bytes(values["public_key"]),
        sign_count=int(values["sign_count"]),
        name=values["name"],
        transports=tuple(transports.split(",")) if transports else (),
        aaguid=values["aaguid"],
        backed_up=bool(values["backed_up"]),
        created_at=values["created_at"],
        last_used_at=values["last_used_at"],
    )
