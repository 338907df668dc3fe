"""Move every wrapped row to the current master key: the middle step of a master-key rotation.

One transaction over ``signing_keys``, ``sealed_secrets`` and the provider tokens kept in
``identities``: either every row is re-wrapped or none is (a row no configured key can open
aborts the whole run). Rows already under the current key are left alone, so running it twice
changes nothing the second time. Retired signing keys are skipped: they are refused anyway, and
their material may be wiped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select, update

from sessionjwt.db.engine import Database
from sessionjwt.db.tables import identities, sealed_secrets, signing_keys
from sessionjwt.keys.master.keyset import MasterKeys
from sessionjwt.keys.sealed import associated_data, identity_associated_data


@dataclass(frozen=True, slots=True)
class RewrapReport:
    rewrapped: int
    already_current: int


async def rewrap(database: Database, master_keys: MasterKeys) -> RewrapReport:
    rewrapped = already = 0
    async with database.write() as connection:
        keys = await connection.execute(
            select(
                signing_keys.c.kid,
                signing_keys.c.private_key_encrypted,
                signing_keys.c.master_key_id,
            )
            .where(signing_keys.c.state != "retired")
            .with_for_update()
        )
        for kid, blob, wrapped_by in keys.all():
            if wrapped_by == master_keys.current_id:
                already += 1
                continue
            plain, _ = master_keys.unwrap(kid, blob, wrapped_by)
            new_blob, new_id = master_keys.wrap(kid, plain)
            await connection.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == kid)
                .values(private_key_encrypted=new_blob, master_key_id=new_id)
            )
            rewrapped += 1
        sealed = await connection.execute(
            select(
                sealed_secrets.c.name, sealed_secrets.c.sealed, sealed_secrets.c.master_key_id
            ).with_for_update()
        )
        for name, blob, wrapped_by in sealed.all():
            if wrapped_by == master_keys.current_id:
                already += 1
                continue
            aad = associated_data(name)
            plain, _ = master_keys.unwrap(aad, blob, wrapped_by, what="sealed secret")
            new_blob, new_id = master_keys.wrap(aad, plain)
            await connection.execute(
                update(sealed_secrets)
                .where(sealed_secrets.c.name == name)
                .values(sealed=new_blob, master_key_id=new_id)
            )
            rewrapped += 1
        kept = await connection.execute(
            select(identities.c.id, identities.c.tokens_sealed, identities.c.tokens_master_key_id)
            .where(identities.c.tokens_sealed.is_not(None))
            .with_for_update()
        )
        for identity_id, blob, wrapped_by in kept.all():
            if wrapped_by == master_keys.current_id:
                already += 1
                continue
            aad = identity_associated_data(identity_id)
            plain, _ = master_keys.unwrap(aad, blob, wrapped_by, what="provider tokens")
            new_blob, new_id = master_keys.wrap(aad, plain)
            await connection.execute(
                update(identities)
                .where(identities.c.id == identity_id)
                .values(tokens_sealed=new_blob, tokens_master_key_id=new_id)
            )
            rewrapped += 1
    return RewrapReport(rewrapped=rewrapped, already_current=already)


async def rows_by_master_key(database: Database) -> Counter[str | None]:
    """How many wrapped rows each master key id holds (``None``: written before ids);
    retired signing keys are not counted, since nothing ever unwraps them."""
    counts: Counter[str | None] = Counter()
    queries = (
        select(signing_keys.c.master_key_id).where(signing_keys.c.state != "retired"),
        select(sealed_secrets.c.master_key_id),
        select(identities.c.tokens_master_key_id).where(identities.c.tokens_sealed.is_not(None)),
    )
    async with database.read() as connection:
        for query in queries:
            for (key_id,) in (await connection.execute(query)).all():
                counts[key_id] += 1
    return counts
