"""Registered clients: the resource servers allowed to introspect tokens (RFC 7662).

A client is an id and a 256-bit secret from the CSPRNG, shown once at creation. The store
keeps only ``SHA-256(domain || secret)``. A slow password hash (argon2) would buy nothing
here: it exists to make guessing *low-entropy* human passwords expensive, and nobody can
enumerate 2^256 secrets at any speed. It would, however, make every introspection call cost
tens of milliseconds and a memory spike, handing attackers a denial-of-service lever. A
keyed hash under the master key was also rejected: it would tie every client secret to the
master key, so rotating that key would lock every resource server out.

A client registered for the client-credentials grant (RFC 6749 §4.4) also gets a *service
account*: a ``users`` row of kind ``client`` whose id is the client id, with no password, no
e-mail and no roles. Its tokens are sessions of that user, so the request check, the
invalidation feed and the Revoker treat them exactly as a person's sessions, and deleting the
client disables the service account: every instance refuses its tokens on the next request.
(Keycloak's "service account user" is the same design.)

Authentication costs the same for an unknown client, a deleted one and a wrong secret: one
row look-up, one hash, one constant-time comparison against either the stored digest or a
dummy, and one answer, :class:`~sessionjwt.errors.InvalidClient`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from sessionjwt.audit.trail import AuditEvent, AuditEventType, write_events
from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import clients, users
from sessionjwt.errors import ClientNotFound, InvalidClient, InvalidClientName, InvalidClientScopes
from sessionjwt.identifiers import new_identifier

CLIENT_ID_BYTES = 16
CLIENT_SECRET_BYTES = 32
MAX_CLIENT_ID = 64
MAX_CLIENT_SECRET = 128
MAX_NAME = 200
_DOMAIN = b"sessionjwt/client-secret/v1\x00"


def hash_client_secret(secret: str) -> str:
    return hashlib.sha256(_DOMAIN + secret.encode("utf-8")).hexdigest()


# Compared against when the client does not exist, so that case costs what a wrong secret
# costs. Its preimage is thrown away; a match against it is refused regardless.
_DUMMY_HASH = hash_client_secret(secrets.token_urlsafe(CLIENT_SECRET_BYTES))


CLIENT_CREDENTIALS = "client_credentials"
SERVICE_ACCOUNT_KIND = "client"  # users.kind of a client's service account


def service_account_email(client_id: str) -> str:
    """What stands in the e-mail column of a client's service account: not an address (no
    ``@``), so no e-mail look-up, mail or identity provider can ever reach it."""
    return f"client:{client_id}"


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client_id: str
    name: str
    created_at: datetime
    deleted_at: datetime | None
    grant_types: tuple[str, ...] = ()  # ("client_credentials",) or () (introspection only)
    scopes: tuple[str, ...] = ()  # what it may ask for at /oauth/token

    @property
    def service(self) -> bool:
        """Whether it may obtain tokens with the client-credentials grant."""
        return CLIENT_CREDENTIALS in self.grant_types


@dataclass(frozen=True, slots=True)
class NewClient:
    """A just-created client and its secret: the only time the secret exists in clear."""

    record: ClientRecord
    secret: str

    def __repr__(self) -> str:  # never print the secret by accident
        return f"NewClient(record={self.record!r}, secret='**********')"


def _record(row: Any) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        grant_types=tuple(row.grant_types.split()),
        scopes=tuple(row.scopes.split()) if row.scopes else (),
    )


class ClientRegistry:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self,
        name: str,
        now: float,
        *,
        actor: str | None = None,
        client_credentials: bool = False,
        scopes: Sequence[str] = (),
    ) -> NewClient:
        """Register a client; with ``client_credentials`` it may obtain tokens limited to
        ``scopes`` (already normalised), backed by a service account made in the same
        transaction."""
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise InvalidClientName()
        if scopes and not client_credentials:
            raise InvalidClientScopes("Scopes are for clients of the client-credentials grant.")
        record = ClientRecord(
            client_id=new_identifier(CLIENT_ID_BYTES),
            name=name,
            created_at=to_datetime(now),
            deleted_at=None,
            grant_types=(CLIENT_CREDENTIALS,) if client_credentials else (),
            scopes=tuple(scopes),
        )
        secret = secrets.token_urlsafe(CLIENT_SECRET_BYTES)
        event = AuditEvent(
            AuditEventType.CLIENT_CREATED,
            at=now,
            actor=actor,
            detail={
                "client_id": record.client_id,
                "name": name,
                "grant_types": " ".join(record.grant_types),
                "scopes": " ".join(record.scopes),
            },
        )
        async with self._db.write() as connection:
            await connection.execute(
                clients.insert().values(
                    client_id=record.client_id,
                    name=record.name,
                    secret_hash=hash_client_secret(secret),
                    created_at=record.created_at,
                    grant_types=" ".join(record.grant_types),
                    scopes=" ".join(record.scopes) or None,
                )
            )
            if record.service:
                email = service_account_email(record.client_id)
                await connection.execute(
                    users.insert().values(
                        id=record.client_id,
                        email=email,
                        email_normalized=email,
                        password_hash=None,
                        roles=[],
                        created_at=record.created_at,
                        email_verified_at=record.created_at,
                        kind=SERVICE_ACCOUNT_KIND,
                    )
                )
            await write_events(connection, [event])
        return NewClient(record, secret)

    async def get(self, client_id: str) -> ClientRecord | None:
        async with self._db.read() as connection:
            row = (
                await connection.execute(select(clients).where(clients.c.client_id == client_id))
            ).first()
        return _record(row) if row else None

    async def list(self, *, include_deleted: bool = False) -> list[ClientRecord]:
        statement = select(clients).order_by(clients.c.created_at, clients.c.client_id)
        if not include_deleted:
            statement = statement.where(clients.c.deleted_at.is_(None))
        async with self._db.read() as connection:
            return [_record(row) for row in await connection.execute(statement)]

    async def delete(self, client_id: str, now: float, *, actor: str | None = None) -> None:
        """Refuse the client's credentials from the next request on; 404 if no live client."""
        event = AuditEvent(
            AuditEventType.CLIENT_DELETED, at=now, actor=actor, detail={"client_id": client_id}
        )
        async with self._db.write() as connection:
            result = await connection.execute(
                update(clients)
                .where(clients.c.client_id == client_id, clients.c.deleted_at.is_(None))
                .values(deleted_at=to_datetime(now))
            )
            if not result.rowcount:
                raise ClientNotFound()
            await write_events(connection, [event])

    async def authenticate(self, client_id: str, secret: str) -> ClientRecord:
        """The live client these credentials belong to, or :class:`InvalidClient`."""
        if not 0 < len(client_id) <= MAX_CLIENT_ID or len(secret) > MAX_CLIENT_SECRET:
            raise InvalidClient()
        async with self._db.read() as connection:
            row = (
                await connection.execute(select(clients).where(clients.c.client_id == client_id))
            ).first()
        live = row is not None and row.deleted_at is None
        expected = row.secret_hash if live and row is not None else _DUMMY_HASH
        matches = hmac.compare_digest(hash_client_secret(secret), expected)
        if not (matches and live) or row is None:
            raise InvalidClient()
        return _record(row)
