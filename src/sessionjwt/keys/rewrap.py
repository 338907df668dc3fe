"""Move every wrapped row to the current master key: the middle step of a master-key rotation.

One transaction over every wrapped column — ``signing_keys``, ``sealed_secrets``, the
provider tokens kept in ``identities``, the TOTP secrets in ``totp_factors``: either every
row is re-wrapped or none is (a row no configured key can open aborts the whole run). Rows
already under the current key are left alone, so running it twice changes nothing the second
time. Retired signing keys are skipped: they are refused anyway, and their material may be
wiped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, select, update

from sessionjwt.db.engine import Database
from sessionjwt.db.tables import identities, sealed_secrets, signing_keys, totp_factors
from sessionjwt.keys.master.keyset import MasterKeys
from sessionjwt.keys.sealed import (
    associated_data,
    identity_associated_data,
    totp_associated_data,
)


@dataclass(frozen=True, slots=True)
class RewrapReport:
    rewrapped: int
    already_current: int


@dataclass(frozen=True, slots=True)
class _WrappedColumn:
    """One kind of row wrapped under the master key: where it lives and what binds it."""

    table: Table
    key: str  # the row's identity, bound in as associated data
    blob: str
    wrapped_by: str
    associated_data: Callable[[str], str]
    what: str
    live: ColumnElement[bool] | None = None  # only these rows are ever unwrapped


_WRAPPED = (
    _WrappedColumn(
        signing_keys,
        "kid",
        "private_key_encrypted",
        "master_key_id",
        lambda kid: kid,
        "signing key",
        signing_keys.c.state != "retired",
    ),
    _WrappedColumn(
        sealed_secrets, "name", "sealed", "master_key_id", associated_data, "sealed secret"
    ),
    _WrappedColumn(
        identities,
        "id",
        "tokens_sealed",
        "tokens_master_key_id",
        identity_associated_data,
        "provider tokens",
        identities.c.tokens_sealed.is_not(None),
    ),
    _WrappedColumn(
        totp_factors,
        "user_id",
        "secret_sealed",
        "master_key_id",
        totp_associated_data,
        "TOTP secret",
    ),
)


async def rewrap(database: Database, master_keys: MasterKeys) -> RewrapReport:
    rewrapped = already = 0
    async with database.write() as connection:
        for wrapped in _WRAPPED:
            columns = wrapped.table.c
            query = select(columns[wrapped.key], columns[wrapped.blob], columns[wrapped.wrapped_by])
            if wrapped.live is not None:
                query = query.where(wrapped.live)
            for key, blob, wrapped_by in (await connection.execute(query.with_for_update())).all():
                if wrapped_by == master_keys.current_id:
                    already += 1
                    continue
                aad = wrapped.associated_data(key)
                plain, _ = master_keys.unwrap(aad, blob, wrapped_by, what=wrapped.what)
                new_blob, new_id = master_keys.wrap(aad, plain)
                await connection.execute(
                    update(wrapped.table)
                    .where(columns[wrapped.key] == key)
                    .values({wrapped.blob: new_blob, wrapped.wrapped_by: new_id})
                )
                rewrapped += 1
    return RewrapReport(rewrapped=rewrapped, already_current=already)


async def rows_by_master_key(database: Database) -> Counter[str | None]:
    """How many wrapped rows each master key id holds (``None``: written before ids);
    retired signing keys are not counted, since nothing ever unwraps them."""
    counts: Counter[str | None] = Counter()
    async with database.read() as connection:
        for wrapped in _WRAPPED:
            query = select(wrapped.table.c[wrapped.wrapped_by])
            if wrapped.live is not None:
                query = query.where(wrapped.live)
            for (key_id,) in (await connection.execute(query)).all():
                counts[key_id] += 1
    return counts
