"""Ceremonies under way: a sign-in waiting for its second factor, a WebAuthn challenge.

Each is a random token the client holds (``mfa_token``, or the token beside a WebAuthn
challenge), stored only as its SHA-256, short-lived, and used once: :meth:`consume` is one
conditional ``UPDATE … WHERE used_at IS NULL AND expires_at > now``, so two racing requests
cannot both complete it. Wrong codes are counted on the row; at the limit it is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.accounts.single_use import digest, new_token
from sessionjwt.clock import to_datetime, to_seconds
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import mfa_challenges
from sessionjwt.errors import InvalidMfaToken, SessionJWTError
from sessionjwt.sessions.issue import Federation


class Purpose(StrEnum):
    SIGN_IN = "sign-in"  # password (or provider) proven, second factor awaited
    PASSKEY_SIGN_IN = "passkey-sign-in"  # a passwordless sign-in's WebAuthn challenge
    PASSKEY_REGISTER = "passkey-register"  # a signed-in user adding a passkey
    PASSKEY_STEP_UP = "passkey-step-up"  # a signed-in user proving a passkey again


@dataclass(frozen=True, slots=True)
class Challenge:
    purpose: Purpose
    user_id: str | None
    session_id: str | None
    amr: tuple[str, ...]  # what was proven before this step ("pwd")
    challenge: str | None  # the WebAuthn challenge, base64url
    failures: int
    expires_at: float
    federation: Federation | None = None  # a provider sign-in's provider session
    scopes: tuple[str, ...] = ()  # what a sign-in asked to be limited to (RFC 6749 §3.3)


class MfaChallenges:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def open(
        self,
        purpose: Purpose,
        *,
        now: float,
        ttl: float,
        user_id: str | None = None,
        session_id: str | None = None,
        amr: Sequence[str] = (),
        challenge: str | None = None,
        federation: Federation | None = None,
        scopes: Sequence[str] = (),
    ) -> str:
        """A new ceremony; the token for the client (only its digest is kept)."""
        token, token_hash = new_token()
        async with self._db.write() as connection:
            # Ended ceremonies go as new ones begin (an index range), so the table stays
            # the size of what is under way, with no background job.
            await connection.execute(
                mfa_challenges.delete().where(mfa_challenges.c.expires_at <= to_datetime(now))
            )
            await connection.execute(
                mfa_challenges.insert().values(
                    token_hash=token_hash,
                    purpose=str(purpose),
                    user_id=user_id,
                    session_id=session_id,
                    amr=" ".join(amr),
                    challenge=challenge,
                    federation=None
                    if federation is None
                    else {
                        "idp": federation.idp,
                        "identity_id": federation.identity_id,
                        "idp_sid": federation.idp_sid,
                    },
                    scopes=" ".join(scopes) or None,
                    created_at=to_datetime(now),
                    expires_at=to_datetime(now + ttl),
                )
            )
        return token

    async def find(
        self,
        token: str,
        purpose: Purpose,
        now: float,
        refusal: type[SessionJWTError] = InvalidMfaToken,
    ) -> Challenge:
        """The live ceremony ``token`` names, or ``refusal`` for any reason."""
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(mfa_challenges).where(
                        mfa_challenges.c.token_hash == digest(token),
                        mfa_challenges.c.purpose == str(purpose),
                    )
                )
            ).first()
        if row is None or row.used_at is not None or to_seconds(row.expires_at) <= now:
            raise refusal()
        return _challenge(row)

    async def set_challenge(self, token: str, purpose: Purpose, challenge: str, now: float) -> None:
        """Attach a WebAuthn challenge to a live ceremony (a pending sign-in about to be
        completed with a passkey); a new one replaces the last."""
        async with self._db.write() as connection:
            changed = await connection.execute(
                update(mfa_challenges)
                .where(*_live(token, purpose, now))
                .values(challenge=challenge)
            )
        if changed.rowcount != 1:
            raise InvalidMfaToken()

    async def failed(self, token: str, purpose: Purpose, now: float, limit: int) -> int:
        """Count a wrong answer; at ``limit`` the ceremony is spent. The count so far."""
        async with self._db.write() as connection:
            row = (
                await connection.execute(
                    update(mfa_challenges)
                    .where(*_live(token, purpose, now))
                    .values(failures=mfa_challenges.c.failures + 1)
                    .returning(mfa_challenges.c.failures)
                )
            ).first()
            if row is None:
                return limit
            if row[0] >= limit:
                await connection.execute(
                    update(mfa_challenges)
                    .where(mfa_challenges.c.token_hash == digest(token))
                    .values(used_at=to_datetime(now))
                )
            return int(row[0])

    async def consume(
        self,
        connection: AsyncConnection,
        token: str,
        purpose: Purpose,
        now: float,
        refusal: type[SessionJWTError] = InvalidMfaToken,
    ) -> None:
        """Within the caller's transaction: use the ceremony once, or ``refusal`` if another
        request used it first (or it expired meanwhile); the transaction then rolls back."""
        used = await connection.execute(
            update(mfa_challenges)
            .where(*_live(token, purpose, now))
            .values(used_at=to_datetime(now))
        )
        if used.rowcount != 1:
            raise refusal()


def _live(token: str, purpose: Purpose, now: float) -> list[ColumnElement[bool]]:
    return [
        mfa_challenges.c.token_hash == digest(token),
        mfa_challenges.c.purpose == str(purpose),
        mfa_challenges.c.used_at.is_(None),
        mfa_challenges.c.expires_at > to_datetime(now),
    ]


def _challenge(row: object) -> Challenge:
    values = row._mapping  # type: ignore[attr-defined]
    return Challenge(
        purpose=Purpose(values["purpose"]),
        user_id=values["user_id"],
        session_id=values["session_id"],
        amr=tuple(str(values["amr"]).split()),
        challenge=values["challenge"],
        failures=int(values["failures"]),
        expires_at=to_seconds(values["expires_at"]),
        federation=_federation(values["federation"]),
        scopes=tuple(str(values["scopes"] or "").split()),
    )


def _federation(value: object) -> Federation | None:
    if not isinstance(value, dict):
        return None
    return Federation(
        idp=str(value["idp"]), identity_id=str(value["identity_id"]), idp_sid=value.get("idp_sid")
    )
