"""The key ring's life in the ``signing_keys`` table: next → active → retiring → retired.

- **next**: generated ahead, published in the JWKS, not signing yet. Verifiers that cache the
  JWKS have it before any token is signed with it.
- **active**: the one key that signs (a partial unique index keeps it one).
- **retiring**: stopped signing at ``deactivated_at``; verifies until every token it signed
  has expired (``deactivated_at`` + access-token lifetime + leeway), then retires.
- **retired**: refused with ``key_retired``; its private material is wiped.

Every transition is one transaction whose ``WHERE`` names the state it expects, so instances
running the schedule at once cannot rotate twice: the loser changes nothing.

Private keys are unwrapped with whichever configured master key wrapped them (the row names
it), and new ones are wrapped with the current master key: see :mod:`sessionjwt.keys.master`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.audit.trail import AuditEvent, write_events
from sessionjwt.clock import to_datetime, to_seconds
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import deployment_state, signing_keys
from sessionjwt.errors import ConfigurationError, KeyOperationRefused
from sessionjwt.keys.master.keyset import MasterKeys
from sessionjwt.keys.ring import (
    KeyRing,
    KeyState,
    SigningKey,
    build_key,
    generate_private_bytes,
    new_kid,
)

WIPED = b""


class _LostRace(Exception):
    """Rolls back a transition another instance made first."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What an operator sees of a key (never its material)."""

    kid: str
    alg: str
    state: KeyState
    created_at: float
    activated_at: float | None
    deactivated_at: float | None
    retired_at: float | None


@dataclass(frozen=True, slots=True)
class Rotation:
    retired_kid: str | None  # the key that stopped signing (now retiring, or retired)
    active_kid: str  # the key that signs from now on
    next_kid: str  # its published successor


class KeyStore:
    def __init__(self, database: Database, master_keys: MasterKeys | bytes) -> None:
        self._db = database
        if isinstance(master_keys, bytes):
            master_keys = MasterKeys(current=master_keys)
        self._master_keys = master_keys
        self.wrapped_by: dict[str, str] = {}
        """kid → id of the master key that opened it, as of the last load."""

    def wrapped_columns(self, kid: str, private_bytes: bytes) -> dict[str, object]:
        """The two columns a new row stores: the wrapped key and which master key wrapped it."""
        blob, master_key_id = self._master_keys.wrap(kid, private_bytes)
        return {"private_key_encrypted": blob, "master_key_id": master_key_id}

    # -- reading ---------------------------------------------------------------------------

    async def load_ring(self, algorithm: str, now: float) -> KeyRing:
        """The current ring, creating what a ring needs on first run: an active key and its
        published successor (another process may do the same at once; the indexes pick one)."""
        keys, retired = await self._load()
        present = {key.state for key in keys}
        missing: list[KeyState] = [state for state in ("active", "next") if state not in present]
        for state in missing:
            await self._insert_if_absent(state, algorithm, now)
        if missing:
            keys, retired = await self._load()
        return KeyRing(keys, retired=retired)

    async def _load(self) -> tuple[list[SigningKey], frozenset[str]]:
        async with self._db.read() as connection:
            rows = (
                await connection.execute(
                    select(signing_keys).order_by(
                        signing_keys.c.activated_at, signing_keys.c.created_at
                    )
                )
            ).all()
        keys = [self._build(row) for row in rows if row.state != "retired"]
        return keys, frozenset(row.kid for row in rows if row.state == "retired")

    def _build(self, row: Any) -> SigningKey:
        private_bytes, opened_by = self._master_keys.unwrap(
            row.kid, row.private_key_encrypted, row.master_key_id
        )
        self.wrapped_by[row.kid] = opened_by
        return build_key(
            row.kid,
            row.alg,
            row.state,
            private_bytes,
            created_at=to_seconds(row.created_at),
            activated_at=_seconds(row.activated_at),
            deactivated_at=_seconds(row.deactivated_at),
        )

    async def list_keys(self) -> list[KeyInfo]:
        async with self._db.read() as connection:
            rows = await connection.execute(
                select(signing_keys).order_by(signing_keys.c.created_at)
            )
            return [
                KeyInfo(
                    kid=row.kid,
                    alg=row.alg,
                    state=row.state,
                    created_at=to_seconds(row.created_at),
                    activated_at=_seconds(row.activated_at),
                    deactivated_at=_seconds(row.deactivated_at),
                    retired_at=_seconds(row.retired_at),
                )
                for row in rows
            ]

    # -- transitions -----------------------------------------------------------------------

    async def rotate(
        self,
        algorithm: str,
        now: float,
        *,
        expected_active: str | None = None,
        events: Sequence[AuditEvent] = (),
    ) -> Rotation | None:
        """Promote the published successor; the old signer starts retiring. A fresh ``next``
        is generated for the following rotation.

        With ``expected_active`` (the schedule), nothing happens unless that key still signs:
        another instance got there first. Returns None then.
        """
        fresh_kid, fresh_row = self._new_row("next", algorithm, now)
        try:
            return await self._rotate(fresh_kid, fresh_row, expected_active, events)
        except (_LostRace, IntegrityError):
            return None

    async def _rotate(
        self,
        fresh_kid: str,
        fresh_row: dict[str, Any],
        expected_active: str | None,
        events: Sequence[AuditEvent],
    ) -> Rotation | None:
        now = to_seconds(fresh_row["created_at"])
        async with self._db.write() as connection:
            active = await self._kid_in(connection, "active")
            upcoming = await self._kid_in(connection, "next")
            if active is None or upcoming is None:
                raise KeyOperationRefused("the key ring is not initialised; start the service")
            if expected_active is not None and active != expected_active:
                return None
            moment = to_datetime(now)
            demoted = await connection.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == active, signing_keys.c.state == "active")
                .values(state="retiring", deactivated_at=moment)
            )
            promoted = await connection.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == upcoming, signing_keys.c.state == "next")
                .values(state="active", activated_at=moment)
            )
            if demoted.rowcount != 1 or promoted.rowcount != 1:
                raise _LostRace  # another instance rotated after our read: theirs stands
            await connection.execute(signing_keys.insert().values(**fresh_row))
            for event in events:
                event.detail.update(retiring=active, active=upcoming, next=fresh_kid)
            await write_events(connection, events)
        return Rotation(retired_kid=active, active_kid=upcoming, next_kid=fresh_kid)

    async def emergency_rotate(
        self, algorithm: str, now: float, *, events: Sequence[AuditEvent] = ()
    ) -> Rotation:
        """Breach containment: every existing key retired (material wiped), a brand-new key
        signs at once, and every session created until now is refused — all in one
        transaction, whatever the number of sessions (one watermark row)."""
        active_kid, active_row = self._new_row("active", algorithm, now)
        next_kid, next_row = self._new_row("next", algorithm, now)
        moment = to_datetime(now)
        async with self._db.write() as connection:
            previous = await self._kid_in(connection, "active")
            await connection.execute(
                update(signing_keys)
                .where(signing_keys.c.state != "retired")
                .values(state="retired", retired_at=moment, private_key_encrypted=WIPED)
            )
            await connection.execute(signing_keys.insert().values(**active_row))
            await connection.execute(signing_keys.insert().values(**next_row))
            moved = await connection.execute(
                update(deployment_state)
                .where(deployment_state.c.id == 1)
                .values(session_generation=deployment_state.c.session_generation + 1)
            )
            if moved.rowcount != 1:
                await connection.execute(
                    deployment_state.insert().values(id=1, session_generation=1)
                )
            for event in events:
                event.detail.update(retired_all=True, active=active_kid, next=next_kid)
            await write_events(connection, events)
        return Rotation(retired_kid=previous, active_kid=active_kid, next_kid=next_kid)

    async def retire(self, kid: str, now: float, *, events: Sequence[AuditEvent] = ()) -> None:
        """Refuse every token ``kid`` signed, now. The signing key cannot be retired (rotate
        first); a retired ``next`` key is replaced by a fresh one."""
        async with self._db.write() as connection:
            found = await connection.execute(
                select(signing_keys.c.state, signing_keys.c.alg).where(signing_keys.c.kid == kid)
            )
            row = found.first()
            if row is None:
                raise KeyOperationRefused(f"no key {kid}")
            if row.state == "active":
                raise KeyOperationRefused(f"{kid} signs: rotate first, then retire it")
            if row.state == "retired":
                return
            await connection.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == kid)
                .values(state="retired", retired_at=to_datetime(now), private_key_encrypted=WIPED)
            )
            if row.state == "next":
                _, fresh_row = self._new_row("next", row.alg, now)
                await connection.execute(signing_keys.insert().values(**fresh_row))
            await write_events(connection, events)

    async def retire_expired(self, now: float, verify_for: float) -> list[str]:
        """Retire every retiring key whose last token has expired (``verify_for`` seconds
        after it stopped signing). Returns their kids."""
        cutoff = to_datetime(now - verify_for)
        async with self._db.write() as connection:
            found = await connection.execute(
                select(signing_keys.c.kid).where(
                    signing_keys.c.state == "retiring", signing_keys.c.deactivated_at <= cutoff
                )
            )
            kids = [row.kid for row in found]
            if kids:
                await connection.execute(
                    update(signing_keys)
                    .where(signing_keys.c.kid.in_(kids), signing_keys.c.state == "retiring")
                    .values(
                        state="retired", retired_at=to_datetime(now), private_key_encrypted=WIPED
                    )
                )
        return kids

    # -- helpers ---------------------------------------------------------------------------

    def _new_row(self, state: KeyState, algorithm: str, now: float) -> tuple[str, dict[str, Any]]:
        kid = new_kid()
        private_bytes = generate_private_bytes(algorithm)
        key = build_key(kid, algorithm, state, private_bytes)
        return kid, {
            "kid": kid,
            "alg": algorithm,
            "state": state,
            "public_jwk": key.public_jwk(),
            **self.wrapped_columns(kid, private_bytes),
            "created_at": to_datetime(now),
            "activated_at": to_datetime(now) if state == "active" else None,
        }

    async def _insert_if_absent(self, state: KeyState, algorithm: str, now: float) -> None:
        _, row = self._new_row(state, algorithm, now)
        try:
            async with self._db.write() as connection:
                # Re-check inside the write transaction: another process may have made one.
                if await self._kid_in(connection, state) is None:
                    await connection.execute(signing_keys.insert().values(**row))
        except IntegrityError:
            pass  # the one-per-state index: another process won the race; use its key

    @staticmethod
    async def _kid_in(connection: AsyncConnection, state: str) -> str | None:
        found = await connection.execute(
            select(signing_keys.c.kid).where(signing_keys.c.state == state)
        )
        return found.scalar_one_or_none()


def _seconds(value: Any) -> float | None:
    return None if value is None else to_seconds(value)


__all__ = ["ConfigurationError", "KeyInfo", "KeyStore", "Rotation"]
