"""Registered resource-server clients: secrets shown once and stored only hashed; the CLI, run
as a separate process, creates, lists and deletes them for a running service."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.db.tables import clients
from sessionjwt.errors import ClientNotFound, InvalidClient, InvalidClientName
from sessionjwt.oauth.clients import hash_client_secret
from tests.conftest import register_and_login
from tests.oauth import active, assert_oauth_error, introspect
from tests.test_cli import cli


async def test_the_secret_is_stored_only_as_its_hash(auth: SessionJWT) -> None:
    created = await auth.create_client("orders-api")
    assert len(created.secret) >= 43  # 32 bytes from the CSPRNG, base64url
    async with auth.database.read() as connection:
        row = (await connection.execute(select(clients))).one()
    assert row.secret_hash == hash_client_secret(created.secret)
    assert created.secret not in [str(value) for value in row]
    assert (await auth.clients.authenticate(row.client_id, created.secret)).name == "orders-api"


async def test_list_and_delete(auth: SessionJWT, clock: ManualClock) -> None:
    first = await auth.create_client("first")
    clock.advance(1)
    second = await auth.create_client("second")
    assert [c.name for c in await auth.list_clients()] == ["first", "second"]

    await auth.delete_client(first.record.client_id)
    assert [c.name for c in await auth.list_clients()] == ["second"]
    everything = await auth.list_clients(include_deleted=True)
    assert [(c.name, c.deleted_at is not None) for c in everything] == [
        ("first", True),
        ("second", False),
    ]
    with pytest.raises(InvalidClient):
        await auth.clients.authenticate(first.record.client_id, first.secret)
    with pytest.raises(ClientNotFound):
        await auth.delete_client(first.record.client_id)  # already deleted
    events = await auth.audit.query(event="client_deleted")
    assert [event.detail for event in events] == [{"client_id": first.record.client_id}]
    assert second.secret != first.secret


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_a_client_needs_a_sensible_name(auth: SessionJWT, name: str) -> None:
    with pytest.raises(InvalidClientName):
        await auth.create_client(name)


async def test_cli_clients_create_list_delete_reach_the_running_service(
    auth: SessionJWT, settings: Settings, client: httpx.AsyncClient
) -> None:
    tokens = await register_and_login(client)

    created = await cli(settings, "clients", "create", "billing-api")
    assert created.returncode == 0, created.stderr
    client_id = re.search(r"^client_id: (\S+)$", created.stdout, re.M)
    secret = re.search(r"^client_secret: (\S+)$", created.stdout, re.M)
    assert client_id and secret, created.stdout
    assert "shown once" in created.stderr
    credentials = (client_id.group(1), secret.group(1))
    active(await introspect(client, tokens["access_token"], credentials))

    listed = await cli(settings, "clients", "list")
    assert listed.returncode == 0, listed.stderr
    assert credentials[0] in listed.stdout and "billing-api" in listed.stdout
    assert credentials[1] not in listed.stdout

    deleted = await cli(settings, "clients", "delete", credentials[0])
    assert deleted.returncode == 0, deleted.stderr
    refused = await introspect(client, tokens["access_token"], credentials)
    assert_oauth_error(refused, 401, "invalid_client")

    again = await cli(settings, "clients", "delete", credentials[0])
    assert again.returncode == 1
    assert "client_not_found" in again.stderr
