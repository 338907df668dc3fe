"""The whole story over HTTP: register → login → me → logout → the same token is refused."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD, bearer, register_and_login


async def test_logout_refuses_the_same_access_token_on_the_very_next_request(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client)
    me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"
    assert me.json()["session_id"] == tokens["session_id"]

    logout = await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert logout.status_code == 204

    again = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert again.status_code == 401
    assert again.json()["error"] == "session_revoked"
    assert again.headers["www-authenticate"].startswith('Bearer error="invalid_token"')

    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert refreshed.json()["error"] == "session_revoked"


async def test_login_response_shape(client: httpx.AsyncClient) -> None:
    tokens = await register_and_login(client)
    assert tokens["token_type"] == "Bearer"
    assert set(tokens) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "session_id",
    }
    assert tokens["expires_in"] == 900


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    await register_and_login(client)
    wrong = await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": PASSWORD + "x"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_credentials",
            "message": "The email or password is incorrect.",
        }
    )
