"""Accounts: the user record, email normalisation and the SQL store for the users table."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import users
from sessionjwt.errors import EmailTaken, InvalidEmail, UserNotFound

PERSON = "person"  # users.kind of everyone who signs in; a service client's account differs
_PEOPLE = users.c.kind == PERSON


def normalise_email(email: str) -> str:
    """The form emails are compared in: NFKC, IDNA-checked, then the local part lower-cased.

    Lower-casing the local part is stricter than RFC 5321 but is what users expect: two
    accounts for ``Alice@x`` and ``alice@x`` would be a support ticket and a takeover risk.
    The domain is kept as IDNA normalised it (already lower case).

    .. versionchanged:: 0.1
       ``str.lower``, not ``str.casefold``: full case folding maps ß to ss, merging
       ``straße.de`` and ``strasse.de`` (two registrable domains) and two mailboxes.
    """
    candidate = unicodedata.normalize("NFKC", email).strip()
    try:
        valid = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from error
    local, _, domain = valid.normalized.rpartition("@")
    return f"{local.lower()}@{domain}"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    email: str
    email_normalized: str
    password_hash: str | None  # None: made by a provider sign-in, no password yet
    roles: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None
    session_generation: int
    # When the user proved they read mail at ``email``; None: not (yet) proven.
    email_verified_at: datetime | None = None
    kind: str = PERSON  # or "client": a service client's account (sessionjwt.oauth.clients)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


def _record(row: Any) -> UserRecord:
    return UserRecord(
        id=row.id,
        email=row.email,
        email_normalized=row.email_normalized,
        password_hash=row.password_hash,
        roles=tuple(row.roles or ()),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        session_generation=row.session_generation,
        email_verified_at=row.email_verified_at,
        kind=row.kind,
    )


async def insert_record(connection: AsyncConnection, record: UserRecord) -> None:
    """Insert a new account within the caller's transaction; IntegrityError if the address
    has one (so a sign-up can write the account and its first link in one transaction)."""
    await connection.execute(
        users.insert().values(
            id=record.id,
            email=record.email,
            email_normalized=record.email_normalized,
            password_hash=record.password_hash,
            roles=list(record.roles),
            created_at=record.created_at,
            email_verified_at=record.email_verified_at,
        )
    )


class UserStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self, email: str, password_hash: str | None, roles: Sequence[str], now: float
    ) -> UserRecord:
        normalized = normalise_email(email)
        record = UserRecord(
            id=str(uuid.uuid4()),
            email=email.strip(),
            email_normalized=normalized,
            password_hash=password_hash,
            roles=tuple(dict.fromkeys(roles)),
            created_at=to_datetime(now),
            disabled_at=None,
            session_generation=0,
        )
        try:
            async with self._db.write() as connection:
                await insert_record(connection, record)
        except IntegrityError as error:
            raise EmailTaken() from error
        return record

    async def get(self, user_id: str) -> UserRecord | None:
        async with self._db.read() as connection:
            row = (await connection.execute(select(users).where(users.c.id == user_id))).first()
        return _record(row) if row else None

    async def find_by_email(self, email: str) -> UserRecord | None:
        try:
            normalized = normalise_email(email)
        except InvalidEmail:
            return None
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(users).where(users.c.email_normalized == normalized, _PEOPLE)
                )
            ).first()
        return _record(row) if row else None

    async def require_by_email(self, email: str) -> UserRecord:
        record = await self.find_by_email(email)
        if record is None:
            raise UserNotFound()
        return record

    async def search(self, fragment: str, limit: int = 50) -> list[UserRecord]:
        """Accounts whose normalised email contains ``fragment`` (admins type part of an
        address); ``%`` and ``_`` match themselves, not SQL wildcards."""
        needle = unicodedata.normalize("NFKC", fragment).strip().lower()
        statement = select(users).where(_PEOPLE).order_by(users.c.email_normalized).limit(limit)
        if needle:
            statement = statement.where(users.c.email_normalized.contains(needle, autoescape=True))
        async with self._db.read() as connection:
            return [_record(row) for row in await connection.execute(statement)]

    async def list(self, *, limit: int = 100, offset: int = 0) -> list[UserRecord]:
        async with self._db.read() as connection:
            rows = await connection.execute(
                select(users)
                .where(_PEOPLE)
                .order_by(users.c.created_at, users.c.id)
                .limit(limit)
                .offset(offset)
            )
            return [_record(row) for row in rows]

    async def count(self) -> int:
        async with self._db.read() as connection:
            return int(
                (
                    await connection.execute(select(func.count()).select_from(users).where(_PEOPLE))
                ).scalar_one()
            )

    async def mark_email_verified(self, user_id: str, now: float) -> None:
        """The address is proven (or vouched for by an operator); kept if already set."""
        async with self._db.write() as connection:
            await connection.execute(
                update(users)
                .where(users.c.id == user_id, users.c.email_verified_at.is_(None))
                .values(email_verified_at=to_datetime(now))
            )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._db.write() as connection:
            await connection.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )

    async def set_roles(self, user_id: str, roles: Sequence[str]) -> None:
        async with self._db.write() as connection:
            result = await connection.execute(
                update(users).where(users.c.id == user_id).values(roles=list(dict.fromkeys(roles)))
            )
            if result.rowcount == 0:
                raise UserNotFound()
