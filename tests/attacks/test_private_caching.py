"""Private answers are never cached: every response to a request that carried a credential (a
bearer token, an API key, the access cookie) says ``Cache-Control: no-store``, so a shared
cache or proxy between the user and the service cannot keep their e-mail, session ids,
addresses and user agents for the next person. A route that set its own ``Cache-Control``
keeps it, and public metadata keeps its caching.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from sessionjwt import SessionJWT
from tests.api_keys.helpers import add_scoped_routes, make_key
from tests.attacks.expect import Victim
from tests.conftest import bearer

ORIGIN = "https://auth.example.test"
ACCESS_COOKIE = "__Host-sjwt-access"


def assert_private(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"


async def test_me_and_sessions_are_not_stored(client: httpx.AsyncClient, victim: Victim) -> None:
    me = await client.get("/auth/me", headers=bearer(victim.access_token))
    assert_private(me)
    assert me.json()["email"] == victim.email

    sessions = await client.get("/auth/sessions", headers=bearer(victim.access_token))
    assert_private(sessions)
    assert victim.session_id in {session["id"] for session in sessions.json()}


async def test_an_api_key_request_is_not_stored_on_a_route_added_later(
    app: FastAPI, auth: SessionJWT, client: httpx.AsyncClient, victim: Victim
) -> None:
    """The application's own route, added after the service was built, is covered too: the
    guard adds the header, not the route."""
    add_scoped_routes(app, auth)
    key = (await make_key(client, victim.access_token, scopes=["orders:read"]))["key"]
    assert key.startswith("sjk_")

    orders = await client.get("/orders", headers=bearer(key))
    assert_private(orders)
    assert orders.json()["user_id"] == victim.user_id


async def test_a_cookie_authenticated_request_is_not_stored(app: FastAPI, victim: Victim) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as browser:
        browser.cookies.set(ACCESS_COOKIE, victim.access_token, domain="auth.example.test")
        me = await browser.get("/auth/me")
        assert_private(me)
        assert me.json()["session_id"] == victim.session_id
        sessions = await browser.get("/auth/sessions")
        assert_private(sessions)


async def test_a_routes_own_cache_control_is_kept(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """The JWKS is public and cacheable; a client that sends its token along anyway does not
    turn it private (nothing in it is theirs)."""
    anonymous = await client.get("/.well-known/jwks.json")
    with_token = await client.get("/.well-known/jwks.json", headers=bearer(victim.access_token))

    assert anonymous.headers["cache-control"].startswith("public, max-age=")
    assert with_token.headers["cache-control"] == anonymous.headers["cache-control"]
    assert with_token.headers.get_list("cache-control") == [anonymous.headers["cache-control"]]


async def test_a_public_route_called_with_a_bearer_token_is_not_stored(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """``/healthz`` sets no caching of its own: with a credential on the request, the answer
    is private like any other."""
    anonymous = await client.get("/healthz")
    with_token = await client.get("/healthz", headers=bearer(victim.access_token))

    assert "cache-control" not in anonymous.headers
    assert_private(with_token)
