"""Deployment-wide secrets stored wrapped under the master key, created once on first use.

Why not derive them from the master key? Because a derived value changes when the master key
is rotated: the refresh-token chain key would change under every live refresh token, and two
instances on different master keys would compute different successors. Stored wrapped, the
secret stays the same and a master-key rotation only re-wraps it, like a signing key.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import sealed_secrets
from sessionjwt.keys.master.keyset import MasterKeys


def associated_data(name: str) -> str:
    """The AAD binding a blob to its name (``:`` never occurs in a ``kid``, so a sealed secret
    and a signing key can never be swapped for each other either)."""
    return f"sealed:{name}"


def identity_associated_data(identity_id: str) -> str:
    """The AAD binding a provider's kept tokens to their identity row (``identities``): a
    blob copied to another identity's row, or into any other wrapped column, does not open."""
    return f"identity:{identity_id}"


def totp_associated_data(user_id: str) -> str:
    """The AAD binding a TOTP secret to its user's row (``totp_factors``)."""
    return f"totp:{user_id}"


class SealedSecrets:
    def __init__(self, database: Database, master_keys: MasterKeys) -> None:
        self._db = database
        self._master_keys = master_keys

    async def get_or_create(self, name: str, initial: Callable[[], bytes], now: float) -> bytes:
        """The secret called ``name``; the first caller stores ``initial()``, racers agree."""
        row = await self._read(name)
        if row is None:
            blob, master_key_id = self._master_keys.wrap(associated_data(name), initial())
            try:
                async with self._db.write() as connection:
                    await connection.execute(
                        sealed_secrets.insert().values(
                            name=name,
                            sealed=blob,
                            master_key_id=master_key_id,
                            created_at=to_datetime(now),
                        )
                    )
            except IntegrityError:
                pass  # another instance stored it first: use its value
            row = await self._read(name)
            if row is None:  # pragma: no cover - deleted between the two statements
                raise RuntimeError(f"sealed secret {name} vanished")
        value, _ = self._master_keys.unwrap(
            associated_data(name), row[0], row[1], what="sealed secret"
        )
        return value

    async def _read(self, name: str) -> tuple[bytes, str] | None:
        async with self._db.read() as connection:
            result = await connection.execute(
                select(sealed_secrets.c.sealed, sealed_secrets.c.master_key_id).where(
                    sealed_secrets.c.name == name
                )
            )
            row = result.first()
        return None if row is None else (row[0], row[1])
