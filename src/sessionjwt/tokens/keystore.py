"""Loads the key ring from the ``signing_keys`` table, creating the first key on first run.

Private keys are unwrapped with whichever configured master key wrapped them (the row names
it), and new ones are wrapped with the current master key: see :mod:`sessionjwt.masterkeys`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import signing_keys
from sessionjwt.masterkeys.keyset import MasterKeys
from sessionjwt.tokens.keys import (
    KeyRing,
    SigningKey,
    build_key,
    generate_private_bytes,
    new_kid,
)


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

    async def load_ring(self, algorithm: str, now: float) -> KeyRing:
        """The current ring; if nothing signs yet, generate and activate one ``algorithm`` key."""
        keys = await self._load()
        if not any(key.state == "active" for key in keys):
            await self._create_first_active(algorithm, now)
            keys = await self._load()
        return KeyRing(keys)

    async def _load(self) -> list[SigningKey]:
        async with self._db.read() as connection:
            rows = await connection.execute(
                select(signing_keys).order_by(
                    signing_keys.c.activated_at, signing_keys.c.created_at
                )
            )
            keys = []
            for row in rows:
                private_bytes, opened_by = self._master_keys.unwrap(
                    row.kid, row.private_key_encrypted, row.master_key_id
                )
                self.wrapped_by[row.kid] = opened_by
                keys.append(build_key(row.kid, row.alg, row.state, private_bytes))
            return keys

    async def _create_first_active(self, algorithm: str, now: float) -> None:
        kid = new_kid()
        private_bytes = generate_private_bytes(algorithm)
        key = build_key(kid, algorithm, "active", private_bytes)
        row = {
            "kid": kid,
            "alg": algorithm,
            "state": "active",
            "public_jwk": key.public_jwk(),
            **self.wrapped_columns(kid, private_bytes),
            "created_at": to_datetime(now),
            "activated_at": to_datetime(now),
        }
        try:
            async with self._db.write() as connection:
                # Re-check inside the write transaction: another process may have made one.
                existing = await connection.execute(
                    select(signing_keys.c.kid).where(signing_keys.c.state == "active")
                )
                if existing.first() is None:
                    await connection.execute(signing_keys.insert().values(**row))
        except IntegrityError:
            pass  # uq_signing_keys_one_active: another process won the race; use its key
