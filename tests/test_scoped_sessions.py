"""A sign-in that asks for scopes (``POST /auth/login {..., "scope"}``) gets a session limited
to them: its access tokens carry the RFC 9068 ``scope`` claim, ``require_scopes`` judges them
like an API key's, a refresh keeps them, introspection reports them — and a sign-in that asks
for none stays full-access, as before."""

from __future__ import annotations

import httpx
import jwt
import pytest
from fastapi import FastAPI

from sessionjwt import SessionJWT
from tests.api_keys.helpers import add_scoped_routes
from tests.conftest import PASSWORD, bearer, register_and_login
from tests.oauth import active, introspect


@pytest.fixture
def scoped_app(app: FastAPI, auth: SessionJWT) -> FastAPI:
    add_scoped_routes(app, auth)
    return app


async def scoped_login(client: httpx.AsyncClient, scope: str) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": PASSWORD, "scope": scope}
    )


async def test_a_scoped_sign_in_carries_its_scopes_in_every_token(
    scoped_app: FastAPI, client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    await register_and_login(client)
    response = await scoped_login(client, "orders:read orders:read")
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["scope"] == "orders:read"
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "orders:read"

    seen = await client.get("/orders", headers=bearer(tokens["access_token"]))
    assert seen.json() == {
        "user_id": claims["sub"],
        "credential": "session",
        "scopes": ["orders:read"],
    }
    refused = await client.post("/orders", headers=bearer(tokens["access_token"]))
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    # Limited means limited: no account management without the 'account' scope.
    listing = await client.get("/auth/sessions", headers=bearer(tokens["access_token"]))
    assert listing.status_code == 403 and listing.json()["error"] == "insufficient_scope"

    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    again = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert again["scope"] == "orders:read" and refreshed.json()["scope"] == "orders:read"

    rs = await auth.create_client("orders-api")
    body = active(
        await introspect(client, refreshed.json()["access_token"], (rs.record.client_id, rs.secret))
    )
    assert body["scope"] == "orders:read" and body["credential"] == "session"
    assert body["username"] == "alice@example.com"


async def test_a_sign_in_without_scope_is_full_access_and_has_no_scope_claim(
    scoped_app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await register_and_login(client)
    assert "scope" not in tokens
    assert "scope" not in jwt.decode(tokens["access_token"], options={"verify_signature": False})
    for method in ("GET", "POST"):
        response = await client.request(method, "/orders", headers=bearer(tokens["access_token"]))
        assert response.status_code == 200, response.text


async def test_a_malformed_scope_is_refused_before_the_password_is_looked_at(
    client: httpx.AsyncClient,
) -> None:
    await register_and_login(client)
    for scope in ('orders"read', "a\\b", " ".join(f"s{n}" for n in range(40))):
        response = await scoped_login(client, scope)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_scope"
    wrong = await client.post(
        "/auth/login",
        json={"email": "alice@example.com", "password": "wrong-password-1", "scope": 'a"b'},
    )
    assert wrong.json()["error"] == "invalid_scope", "no password oracle behind a bad scope"
