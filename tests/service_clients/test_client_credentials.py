"""The client-credentials grant (RFC 6749 §4.4) at ``POST /oauth/token``, over HTTP, on both
backends: a service client's token is an ``at+jwt`` with ``client_id`` and ``scope``, backed
by a session of its service account, so scopes, introspection and deletion behave as the
issue promises — and every refusal is the RFC 6749 §5.2 code.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from sessionjwt import SessionJWT
from sessionjwt.db.tables import audit_events, sessions
from tests.api_keys.helpers import add_scoped_routes
from tests.conftest import bearer, register_and_login
from tests.oauth import FORM, active, assert_inactive, assert_oauth_error, basic, introspect

Credentials = tuple[str, str]


@pytest.fixture
async def service(auth: SessionJWT) -> Credentials:
    created = await auth.create_client(
        "billing-worker", client_credentials=True, scopes=["orders:read", "invoices:write"]
    )
    return created.record.client_id, created.secret


@pytest.fixture
async def resource_server(auth: SessionJWT) -> Credentials:
    created = await auth.create_client("orders-api")
    return created.record.client_id, created.secret


@pytest.fixture
def scoped_app(app: FastAPI, auth: SessionJWT) -> FastAPI:
    add_scoped_routes(app, auth)
    return app


async def token(
    client: httpx.AsyncClient, credentials: Credentials | None, **fields: str
) -> httpx.Response:
    headers = basic(*credentials) if credentials else {}
    return await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", **fields}, headers=headers
    )


def granted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def session_rows(auth: SessionJWT) -> int:
    async with auth.database.read() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(sessions))).scalar_one()
        )


async def test_a_service_client_gets_an_at_jwt_naming_itself_and_its_scopes(
    client: httpx.AsyncClient, auth: SessionJWT, service: Credentials
) -> None:
    body = granted(await token(client, service))
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == int(auth.settings.access_token_ttl.total_seconds())
    assert body["scope"] == "orders:read invoices:write"
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert header["typ"] == "at+jwt"
    assert claims["client_id"] == claims["sub"] == service[0]
    assert claims["scope"] == "orders:read invoices:write"
    assert claims["roles"] == []
    assert "refresh_token" not in body, "RFC 6749 §4.4.3: no refresh token"


async def test_client_secret_post_works_like_basic(
    client: httpx.AsyncClient, service: Credentials
) -> None:
    body = granted(
        await token(
            client, None, client_id=service[0], client_secret=service[1], scope="orders:read"
        )
    )
    assert body["scope"] == "orders:read"


async def test_the_token_reaches_what_its_scopes_allow_and_nothing_else(
    scoped_app: FastAPI, client: httpx.AsyncClient, service: Credentials
) -> None:
    access = granted(await token(client, service, scope="orders:read"))["access_token"]
    seen = await client.get("/orders", headers=bearer(access))
    assert seen.status_code == 200, seen.text
    assert seen.json() == {"user_id": service[0], "credential": "client", "scopes": ["orders:read"]}

    refused = await client.post("/orders", headers=bearer(access))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    # The account-management endpoints need the 'account' scope, which it does not hold.
    sessions_list = await client.get("/auth/sessions", headers=bearer(access))
    assert (
        sessions_list.status_code == 403 and sessions_list.json()["error"] == "insufficient_scope"
    )


async def test_a_client_with_no_scopes_is_still_restricted(
    scoped_app: FastAPI, client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    created = await auth.create_client("heartbeat", client_credentials=True)
    body = granted(await token(client, (created.record.client_id, created.secret)))
    assert "scope" not in body
    refused = await client.get("/orders", headers=bearer(body["access_token"]))
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"


async def test_a_scope_the_client_was_not_registered_for_is_invalid_scope_and_starts_nothing(
    client: httpx.AsyncClient, auth: SessionJWT, service: Credentials
) -> None:
    before = await session_rows(auth)
    assert_oauth_error(
        await token(client, service, scope="orders:read admin"), 400, "invalid_scope"
    )
    assert_oauth_error(await token(client, service, scope='orders"read'), 400, "invalid_scope")
    assert await session_rows(auth) == before


async def test_refusals_carry_the_rfc_6749_codes(
    client: httpx.AsyncClient, service: Credentials, resource_server: Credentials
) -> None:
    assert_oauth_error(await token(client, (service[0], "not-the-secret")), 401, "invalid_client")
    assert_oauth_error(await token(client, ("no-such-client", service[1])), 401, "invalid_client")
    assert_oauth_error(await token(client, None), 401, "invalid_client")
    # A resource server registered for introspection only may not mint itself tokens.
    assert_oauth_error(await token(client, resource_server), 400, "unauthorized_client")
    assert_oauth_error(
        await token(client, service, grant_type="password"), 400, "unsupported_grant_type"
    )
    missing = await client.post("/oauth/token", data={}, headers=basic(*service))
    assert_oauth_error(missing, 400, "invalid_request")
    as_json = await client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert_oauth_error(as_json, 400, "invalid_request")
    repeated = await client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={**FORM, **basic(*service)},
    )
    assert_oauth_error(repeated, 400, "invalid_request")


async def test_introspection_reports_client_id_scope_and_the_credential(
    client: httpx.AsyncClient, service: Credentials, resource_server: Credentials
) -> None:
    access = granted(await token(client, service))["access_token"]
    body = active(await introspect(client, access, resource_server))
    assert body["client_id"] == body["sub"] == service[0]
    assert body["scope"] == "orders:read invoices:write"
    assert body["credential"] == "client"
    assert "username" not in body, "no resource owner behind a client token"


async def test_deleting_the_client_refuses_its_live_tokens_on_the_next_request(
    scoped_app: FastAPI,
    client: httpx.AsyncClient,
    auth: SessionJWT,
    service: Credentials,
    resource_server: Credentials,
) -> None:
    first = granted(await token(client, service))["access_token"]
    second = granted(await token(client, service))["access_token"]
    for access in (first, second):  # warm in this process's memory
        assert (await client.get("/orders", headers=bearer(access))).status_code == 200

    await auth.delete_client(service[0], actor="test")

    for access in (first, second):
        refused = await client.get("/orders", headers=bearer(access))
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "account_disabled"
        assert_inactive(await introspect(client, access, resource_server))
    assert_oauth_error(await token(client, service), 401, "invalid_client")
    async with auth.database.read() as connection:
        events = [
            row.event
            for row in await connection.execute(
                select(audit_events.c.event).where(audit_events.c.user_id == service[0])
            )
        ]
    assert events.count("client_token_issued") == 2 and "user_disabled" in events


async def test_a_client_token_revoked_at_rfc_7009_is_refused(
    scoped_app: FastAPI, client: httpx.AsyncClient, service: Credentials
) -> None:
    access = granted(await token(client, service))["access_token"]
    revoked = await client.post("/oauth/revoke", data={"token": access}, headers=basic(*service))
    assert revoked.status_code == 200
    refused = await client.get("/orders", headers=bearer(access))
    assert refused.status_code == 401 and refused.json()["error"] == "session_revoked"


async def test_the_service_account_cannot_be_signed_in_to_or_found_by_address(
    client: httpx.AsyncClient, auth: SessionJWT, service: Credentials
) -> None:
    for email in (f"client:{service[0]}", service[0]):
        response = await client.post("/auth/login", json={"email": email, "password": "x" * 12})
        assert response.status_code in (401, 422), response.text
        assert response.json()["error"] in ("invalid_credentials", "invalid_email")
    assert await auth.components.users.find_by_email(f"client:{service[0]}") is None
    listed = await auth.components.users.list()
    assert service[0] not in {user.id for user in listed}


async def test_the_metadata_lists_the_token_endpoint_and_the_grant(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["token_endpoint"] == auth.settings.issuer.rstrip("/") + "/oauth/token"
    assert set(metadata["grant_types_supported"]) == {"client_credentials", "refresh_token"}
    assert {"client_secret_basic", "client_secret_post"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )


async def test_a_session_token_is_not_a_client_credential(client: httpx.AsyncClient) -> None:
    alice = await register_and_login(client)
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=bearer(alice["access_token"]),
    )
    assert_oauth_error(response, 401, "invalid_client")
