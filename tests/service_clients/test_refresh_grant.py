"""``grant_type=refresh_token`` at ``POST /oauth/token`` (RFC 6749 §6): what an OAuth client
library does with the refresh token it got, answered by the same Refresher as
``/auth/refresh`` — rotation, reuse detection and all — with the §5.2 codes."""

from __future__ import annotations

import httpx

from tests.conftest import bearer, register_and_login
from tests.oauth import assert_oauth_error, basic


async def refresh(client: httpx.AsyncClient, refresh_token: str, **extra: str) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
    )


async def test_the_refresh_grant_rotates_like_auth_refresh(client: httpx.AsyncClient) -> None:
    tokens = await register_and_login(client)
    response = await refresh(client, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["refresh_token"] != tokens["refresh_token"]
    me = await client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200


async def test_a_replayed_refresh_token_is_invalid_grant_and_ends_the_session(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client)
    rotated = (await refresh(client, tokens["refresh_token"])).json()
    # Past the concurrent-refresh grace? The replay of the parent is reuse either way once
    # the child has been used.
    assert (await refresh(client, rotated["refresh_token"])).status_code == 200
    assert_oauth_error(await refresh(client, tokens["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(await refresh(client, "not.a-token"), 400, "invalid_grant")
    ended = await client.get("/auth/me", headers=bearer(rotated["access_token"]))
    assert ended.status_code == 401


async def test_the_refresh_grant_is_for_the_public_first_party_client_only(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client)
    other = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic("some-client", "some-secret"),
    )
    assert_oauth_error(other, 401, "invalid_client")
    assert_oauth_error(
        await refresh(client, tokens["refresh_token"], client_id="someone-else"),
        401,
        "invalid_client",
    )
    assert_oauth_error(
        await refresh(client, tokens["refresh_token"], scope="more"), 400, "invalid_request"
    )
    # None of the refusals spent the token.
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200
