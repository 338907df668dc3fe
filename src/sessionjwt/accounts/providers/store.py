"""Where provider sign-ins keep their state: flows under way (single use, bound to a browser),
linked identities (and, for a ``keep_tokens`` provider, its tokens wrapped under the master
key), logout tokens already used, and the sessions a provider started."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from sessionjwt.accounts.providers.tokens import ProviderTokens
from sessionjwt.audit.trail import AuditEvent, write_events
from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import (
    identities,
    provider_flows,
    provider_logout_tokens,
    sessions,
    users,
)
from sessionjwt.errors import IdentityTaken, InvalidIdToken, InvalidProviderState
from sessionjwt.keys.master.keyset import MasterKeys
from sessionjwt.keys.sealed import identity_associated_data


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Flow:
    provider: str
    purpose: str  # "signin" or "link"
    user_id: str | None
    nonce: str
    code_verifier: str
    return_to: str


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    user_id: str
    provider: str
    subject: str
    email: str | None
    linked_at: datetime
    last_used_at: datetime | None
    has_tokens: bool = False  # the provider's tokens are kept for it (keep_tokens)


class ProviderStore:
    def __init__(self, database: Database, master_keys: Callable[[], MasterKeys]) -> None:
        self._db = database
        self._master_keys = master_keys  # loaded at start, so asked for when needed

    # -- flows -----------------------------------------------------------------------------

    async def begin(self, state: str, browser: str, flow: Flow, now: float, ttl: float) -> None:
        async with self._db.write() as connection:
            # Expired flows of anyone are garbage: collect a few on every start.
            await connection.execute(
                delete(provider_flows).where(provider_flows.c.expires_at <= to_datetime(now))
            )
            await connection.execute(
                provider_flows.insert().values(
                    state_hash=digest(state),
                    browser_hash=digest(browser),
                    provider=flow.provider,
                    purpose=flow.purpose,
                    user_id=flow.user_id,
                    nonce=flow.nonce,
                    code_verifier=flow.code_verifier,
                    return_to=flow.return_to,
                    created_at=to_datetime(now),
                    expires_at=to_datetime(now + ttl),
                )
            )

    async def consume(self, state: str, browser: str | None, provider: str, now: float) -> Flow:
        """The flow ``state`` started, used up; :class:`InvalidProviderState` for a state that
        is unknown, used, expired, for another provider, or started in another browser."""
        wanted = digest(state)
        async with self._db.write() as connection:
            row = (
                await connection.execute(
                    select(provider_flows).where(provider_flows.c.state_hash == wanted)
                )
            ).first()
            if row is None:
                raise InvalidProviderState()
            # Used up whatever happens next: a second try with the same state always fails.
            deleted = await connection.execute(
                delete(provider_flows).where(provider_flows.c.state_hash == wanted)
            )
        if (
            deleted.rowcount != 1
            or browser is None
            or row.browser_hash != digest(browser)
            or row.provider != provider
            or row.expires_at <= to_datetime(now)
        ):
            raise InvalidProviderState()
        return Flow(
            provider=row.provider,
            purpose=row.purpose,
            user_id=row.user_id,
            nonce=row.nonce,
            code_verifier=row.code_verifier,
            return_to=row.return_to,
        )

    # -- identities ------------------------------------------------------------------------

    async def find(self, provider: str, subject: str) -> Identity | None:
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(identities).where(
                        identities.c.provider == provider, identities.c.subject == subject
                    )
                )
            ).first()
        return None if row is None else _identity(row)

    async def of_user(self, user_id: str) -> list[Identity]:
        async with self._db.read() as connection:
            rows = await connection.execute(
                select(identities)
                .where(identities.c.user_id == user_id)
                .order_by(identities.c.linked_at)
            )
            return [_identity(row) for row in rows]

    async def link(
        self,
        user_id: str,
        provider: str,
        subject: str,
        email: str | None,
        now: float,
        events: Sequence[AuditEvent],
    ) -> Identity:
        identity = Identity(
            id=str(uuid.uuid4()),
            user_id=user_id,
            provider=provider,
            subject=subject,
            email=email,
            linked_at=to_datetime(now),
            last_used_at=to_datetime(now),
        )
        try:
            async with self._db.write() as connection:
                await connection.execute(
                    identities.insert().values(
                        id=identity.id,
                        user_id=user_id,
                        provider=provider,
                        subject=subject,
                        email=email,
                        linked_at=identity.linked_at,
                        last_used_at=identity.last_used_at,
                    )
                )
                await write_events(connection, events)
        except IntegrityError as error:
            raise IdentityTaken() from error
        return identity

    async def used(self, identity_id: str, now: float) -> None:
        async with self._db.write() as connection:
            await connection.execute(
                update(identities)
                .where(identities.c.id == identity_id)
                .values(last_used_at=to_datetime(now))
            )

    async def unlink(self, user_id: str, identity_id: str, events: Sequence[AuditEvent]) -> bool:
        """Remove one of ``user_id``'s identities unless it is the last way to sign in.

        False if it is the last (no password, no other identity); the check and the delete are
        one transaction, so two concurrent unlinks cannot remove both of the last two."""
        async with self._db.write() as connection:
            user = (
                await connection.execute(
                    select(users.c.password_hash).where(users.c.id == user_id).with_for_update()
                )
            ).first()
            count = (
                await connection.execute(
                    select(func.count()).where(identities.c.user_id == user_id)
                )
            ).scalar_one()
            if user is None or (user.password_hash is None and count <= 1):
                return False
            await connection.execute(
                delete(identities).where(
                    identities.c.id == identity_id, identities.c.user_id == user_id
                )
            )
            await write_events(connection, events)
        return True

    # -- the provider's own tokens ---------------------------------------------------------

    async def keep_tokens(self, identity_id: str, tokens: ProviderTokens | None) -> None:
        """Store ``tokens`` for the identity, wrapped under the current master key and bound
        to its id; None forgets any kept before."""
        if tokens is None:
            values: dict[str, Any] = {"tokens_sealed": None, "tokens_master_key_id": None}
        else:
            blob, key_id = self._master_keys().wrap(
                identity_associated_data(identity_id), tokens.to_json()
            )
            values = {"tokens_sealed": blob, "tokens_master_key_id": key_id}
        async with self._db.write() as connection:
            await connection.execute(
                update(identities).where(identities.c.id == identity_id).values(**values)
            )

    async def tokens_of(self, user_id: str, provider: str) -> ProviderTokens | None:
        """The tokens kept for ``user_id``'s identity at ``provider`` (the one used last, if
        the account connected several). A blob that does not open under its own row's id —
        tampered with, or copied from another identity — raises ConfigurationError."""
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(
                        identities.c.id,
                        identities.c.tokens_sealed,
                        identities.c.tokens_master_key_id,
                    )
                    .where(
                        identities.c.user_id == user_id,
                        identities.c.provider == provider,
                        identities.c.tokens_sealed.is_not(None),
                    )
                    .order_by(identities.c.last_used_at.desc().nulls_last())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        aad = identity_associated_data(row.id)
        plain, _ = self._master_keys().unwrap(
            aad, row.tokens_sealed, row.tokens_master_key_id, what="provider tokens"
        )
        return ProviderTokens.from_json(plain, aad)

    # -- back-channel logout ---------------------------------------------------------------

    async def first_use_of_logout_token(
        self, provider: str, jti: str, expires: float, now: float
    ) -> None:
        """Record a logout token's ``jti``; :class:`InvalidIdToken` if it was seen before."""
        try:
            async with self._db.write() as connection:
                await connection.execute(
                    delete(provider_logout_tokens).where(
                        provider_logout_tokens.c.expires_at <= to_datetime(now)
                    )
                )
                await connection.execute(
                    provider_logout_tokens.insert().values(
                        jti_hash=digest(f"{provider}:{jti}"),
                        provider=provider,
                        expires_at=to_datetime(expires),
                    )
                )
        except IntegrityError as error:
            raise InvalidIdToken("This logout token was already used.") from error

    async def live_sessions(
        self, provider: str, *, identity_id: str | None, idp_sid: str | None
    ) -> list[tuple[str, str]]:
        """(session id, user id) of the unrevoked sessions a provider sign-in started."""
        conditions = [sessions.c.idp == provider, sessions.c.revoked_at.is_(None)]
        if identity_id is not None:
            conditions.append(sessions.c.identity_id == identity_id)
        if idp_sid is not None:
            conditions.append(sessions.c.idp_sid == idp_sid)
        async with self._db.read() as connection:
            rows = await connection.execute(
                select(sessions.c.id, sessions.c.user_id).where(*conditions)
            )
            return [(row.id, row.user_id) for row in rows]


def _identity(row: Any) -> Identity:
    return Identity(
        id=row.id,
        user_id=row.user_id,
        provider=row.provider,
        subject=row.subject,
        email=row.email,
        linked_at=row.linked_at,
        last_used_at=row.last_used_at,
        has_tokens=row.tokens_sealed is not None,
    )
