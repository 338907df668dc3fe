"""The browser transport: cookies scripts cannot read, CSRF refused before anything is checked,
transparent refresh for page loads, and the fresh-authentication window for sensitive actions.

Every forged request here is what a hostile page can make a victim's browser send: the
victim's cookies ride along, but the browser also says where the request came from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.errors import ReauthenticationRequired, SessionRevoked
from sessionjwt.server.app import create_app
from sessionjwt.sessions.issue import TokenPair
from sessionjwt.web.cookies import CookieTransport, safe_next
from sessionjwt.web.guard import GuardMiddleware
from tests.conftest import PASSWORD, make_settings

ORIGIN = "https://auth.example.test"
ACCESS = "__Host-sjwt-access"
REFRESH = "__Secure-sjwt-refresh"
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client that keeps cookies like a browser (Secure ones included)."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        yield http


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Each ``Set-Cookie`` of a response, parsed, by cookie name."""
    parsed: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            parsed[name] = jar
    return parsed


async def sign_in(browser: httpx.AsyncClient, email: str = "alice@example.com") -> dict[str, Any]:
    """Register over the JSON API and put the pair in the browser's cookies, as a page would."""
    created = await browser.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    pair = await browser.post("/auth/login", json={"email": email, "password": PASSWORD})
    body: dict[str, Any] = pair.json()
    browser.cookies.set(ACCESS, body["access_token"], domain="auth.example.test", path="/")
    browser.cookies.set(
        REFRESH, body["refresh_token"], domain="auth.example.test", path="/auth/refresh"
    )
    return body


async def live_sessions(auth: SessionJWT, body: dict[str, Any]) -> int:
    principal = await auth.check(body["access_token"])
    return len(await auth.list_sessions(principal.user_id))


# -- reading the cookie ---------------------------------------------------------------------


async def test_the_access_cookie_authenticates_a_request(browser: httpx.AsyncClient) -> None:
    body = await sign_in(browser)
    me = await browser.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["session_id"] == body["session_id"]


async def test_a_bad_authorization_header_is_not_rescued_by_a_good_cookie(
    browser: httpx.AsyncClient,
) -> None:
    """Bearer wins whenever it is present: one credential per request, never a fallback."""
    await sign_in(browser)
    me = await browser.get("/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert me.status_code == 401
    assert me.json()["error"] == "invalid_token"


async def test_an_unprefixed_cookie_is_ignored(app: FastAPI) -> None:
    """A plain ``sjwt-access`` can be planted by a sibling subdomain; only __Host- counts."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        body = await sign_in(http)
        http.cookies.clear()
        me = await http.get("/auth/me", headers={"Cookie": f"sjwt-access={body['access_token']}"})
    assert me.status_code == 401
    assert me.json()["error"] == "missing_token"


# -- CSRF: the forged requests and their refusals --------------------------------------------


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "neither Sec-Fetch-Site nor Origin"),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, "cross-site"),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://sub.example.test"}, "same-site"),
        ({"Origin": "https://evil.example"}, "Origin is not this site"),
        ({"Origin": "null"}, "neither Sec-Fetch-Site nor Origin"),
        ({"Origin": "https://auth.example.test.evil.example"}, "Origin is not this site"),
    ],
)
async def test_a_forged_cookie_post_is_refused_before_it_acts(
    browser: httpx.AsyncClient, auth: SessionJWT, headers: dict[str, str], why: str
) -> None:
    body = await sign_in(browser)
    forged = await browser.post("/auth/logout", headers=headers)
    assert forged.status_code == 403
    assert forged.json()["error"] == "csrf_failed"
    assert why in forged.json()["message"]
    assert await live_sessions(auth, body) == 1  # still signed in: nothing happened


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN}, {"Origin": ORIGIN}],
    ids=["fetch-metadata", "origin-only"],
)
async def test_a_same_origin_cookie_post_acts_and_signs_out(
    browser: httpx.AsyncClient, auth: SessionJWT, headers: dict[str, str]
) -> None:
    body = await sign_in(browser)
    done = await browser.post("/auth/logout", headers=headers)
    assert done.status_code == 204
    cleared = set_cookies(done)
    assert cleared[ACCESS][ACCESS]["max-age"] == "0"
    assert cleared[REFRESH][REFRESH]["path"] == "/auth/refresh"
    with pytest.raises(SessionRevoked):
        await auth.check(body["access_token"])


async def test_bearer_requests_need_no_origin(browser: httpx.AsyncClient) -> None:
    """No other site can make a browser send an Authorization header: APIs are unaffected."""
    body = await sign_in(browser)
    browser.cookies.clear()
    done = await browser.post(
        "/auth/logout", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert done.status_code == 204


async def test_a_trusted_origin_may_post(tmp_path: Path, clock: ManualClock) -> None:
    settings = make_settings(tmp_path, trusted_origins="https://app.example.test")
    async with SessionJWT(settings, clock=clock) as auth:
        transport = httpx.ASGITransport(app=create_app(auth=auth))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
            await sign_in(http)
            headers = {"Sec-Fetch-Site": "same-site", "Origin": "https://app.example.test"}
            assert (await http.post("/auth/logout", headers=headers)).status_code == 204


async def test_a_cross_site_get_still_works(browser: httpx.AsyncClient) -> None:
    """Following a link from mail or another site is a safe request: it keeps the session."""
    await sign_in(browser)
    me = await browser.get("/auth/me", headers={"Sec-Fetch-Site": "cross-site"})
    assert me.status_code == 200


# -- transparent refresh --------------------------------------------------------------------


async def test_an_expired_page_load_goes_through_refresh_and_back(
    browser: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    body = await sign_in(browser)
    clock.advance(settings.access_token_ttl.total_seconds() + 60)
    page = await browser.get("/auth/me?x=1", headers=NAVIGATE)
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/refresh?next=/auth/me%3Fx%3D1"
    back = await browser.get(page.headers["location"], headers=NAVIGATE)
    assert back.status_code == 303
    assert back.headers["location"] == "/auth/me?x=1"
    rotated = set_cookies(back)
    assert rotated[ACCESS][ACCESS].value != body["access_token"]
    assert rotated[REFRESH][REFRESH].value != body["refresh_token"]
    me = await browser.get("/auth/me", headers=NAVIGATE)
    assert me.status_code == 200
    assert me.json()["session_id"] == body["session_id"]


async def test_a_script_gets_401_not_a_redirect(
    browser: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    await sign_in(browser)
    clock.advance(settings.access_token_ttl.total_seconds() + 60)
    fetched = await browser.get("/auth/me", headers={"Sec-Fetch-Mode": "cors"})
    assert fetched.status_code == 401
    assert fetched.json()["error"] == "token_expired"


async def test_a_revoked_session_is_sent_to_sign_in_with_cookies_cleared(
    browser: httpx.AsyncClient, auth: SessionJWT
) -> None:
    body = await sign_in(browser)
    principal = await auth.check(body["access_token"])
    await auth.revoke_session(principal.session_id)
    page = await browser.get("/auth/me", headers=NAVIGATE)
    assert page.headers["location"] == "/auth/refresh?next=/auth/me"
    refused = await browser.get(page.headers["location"])
    assert refused.status_code == 303
    assert refused.headers["location"] == "/signin?next=/auth/me"
    cleared = set_cookies(refused)
    assert cleared[ACCESS][ACCESS]["max-age"] == "0"
    assert cleared[REFRESH][REFRESH]["max-age"] == "0"


@pytest.mark.parametrize(
    "hostile",
    ["//evil.example/", "/\\evil.example", "https://evil.example/", "/\r\nSet-Cookie:x", "x"],
)
async def test_refresh_never_redirects_off_site(browser: httpx.AsyncClient, hostile: str) -> None:
    await sign_in(browser)
    back = await browser.get("/auth/refresh", params={"next": hostile})
    assert back.status_code == 303
    assert back.headers["location"] == "/"


def test_safe_next_keeps_local_paths_only() -> None:
    assert safe_next("/devices?tab=1") == "/devices?tab=1"
    for hostile in ("//evil", "/\\evil", "http://evil", "javascript:alert(1)", "/a\nb", ""):
        assert safe_next(hostile) == "/"


async def test_the_json_refresh_accepts_the_cookie_from_the_same_origin(
    browser: httpx.AsyncClient,
) -> None:
    body = await sign_in(browser)
    forged = await browser.post("/auth/refresh", headers={"Sec-Fetch-Site": "cross-site"})
    assert forged.status_code == 403
    assert forged.json()["error"] == "csrf_failed"
    done = await browser.post("/auth/refresh", headers={"Sec-Fetch-Site": "same-origin"})
    assert done.status_code == 204
    assert set_cookies(done)[REFRESH][REFRESH].value != body["refresh_token"]


# -- cookie attributes ------------------------------------------------------------------------


def _written(settings: Settings, host: str) -> dict[str, SimpleCookie]:
    transport = CookieTransport(settings)
    scope = {"type": "http", "headers": [(b"host", host.encode())], "method": "GET"}
    response = Response()
    pair = TokenPair("acc", 900, "ref", 86400, "sid")
    transport.set_tokens(response, pair, Request(scope))
    parsed: dict[str, SimpleCookie] = {}
    for name, value in response.raw_headers:
        if name == b"set-cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode())
            parsed.update({key: jar for key in jar})
    return parsed


def test_cookies_are_host_bound_httponly_secure_and_samesite(tmp_path: Path) -> None:
    written = _written(make_settings(tmp_path), "auth.example.test")
    access = written[ACCESS][ACCESS]
    refresh = written[REFRESH][REFRESH]
    assert (access["path"], access["secure"], access["httponly"]) == ("/", True, True)
    assert access["samesite"] == "lax"
    assert "domain" not in access or not access["domain"]
    assert access["max-age"] == "900"
    assert (refresh["path"], refresh["secure"], refresh["httponly"]) == (
        "/auth/refresh",
        True,
        True,
    )
    assert refresh["max-age"] == "86400"


def test_insecure_cookies_only_for_loopback(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, cookie_secure=False)
    local = _written(settings, "localhost:8000")
    assert set(local) == {"sjwt-access", "sjwt-refresh"}
    assert not local["sjwt-access"]["sjwt-access"]["secure"]
    remote = _written(settings, "auth.example.test")
    assert set(remote) == {ACCESS, REFRESH}
    assert remote[ACCESS][ACCESS]["secure"] is True


# -- fresh authentication (ASVS 5 §7.5.1) ----------------------------------------------------


async def test_sign_out_everywhere_else_needs_a_recent_password(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    phone = await _pair(client, "bob@example.com")
    laptop = (await client.post("/auth/login", json=_creds("bob@example.com"))).json()
    clock.advance(settings.fresh_auth_window.total_seconds() + 1)
    refresh = await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    phone = refresh.json()  # a refreshed token does not make the password fresh
    headers = {"Authorization": f"Bearer {phone['access_token']}"}
    stale = await client.post("/auth/logout-all?keep_current=true", headers=headers)
    assert stale.status_code == 403
    assert stale.json()["error"] == "reauthentication_required"
    assert await live_sessions(auth, laptop) == 2

    wrong = await client.post("/auth/reauthenticate", json={"password": "nope"}, headers=headers)
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_credentials"
    confirmed = await client.post(
        "/auth/reauthenticate", json={"password": PASSWORD}, headers=headers
    )
    assert confirmed.status_code == 204
    done = await client.post("/auth/logout-all?keep_current=true", headers=headers)
    assert done.status_code == 204
    assert await live_sessions(auth, phone) == 1


async def test_fresh_auth_window_is_configurable(tmp_path: Path, clock: ManualClock) -> None:
    settings = make_settings(tmp_path, fresh_auth_window=timedelta(seconds=30))
    async with SessionJWT(settings, clock=clock) as auth:
        await auth.register("carol@example.com", PASSWORD)
        pair = await auth.login("carol@example.com", PASSWORD)
        principal = await auth.check(pair.access_token)
        await auth.require_fresh_auth(principal)
        clock.advance(31)
        with pytest.raises(ReauthenticationRequired):
            await auth.require_fresh_auth(principal)


def _creds(email: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD}


async def _pair(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    await client.post("/auth/register", json=_creds(email))
    pair: dict[str, Any] = (await client.post("/auth/login", json=_creds(email))).json()
    return pair


# -- WebSocket handshakes: cross-site WebSocket hijacking -----------------------------------


@pytest.mark.parametrize(
    ("origin", "outcome"),
    [("https://evil.example", "websocket.close"), (ORIGIN, "accepted")],
)
async def test_a_cookie_websocket_handshake_must_come_from_this_site(
    browser: httpx.AsyncClient, auth: SessionJWT, origin: str, outcome: str
) -> None:
    """Browsers send cookies and Origin on a WebSocket handshake, whoever opens it: a hostile
    page opening our socket with the victim's cookie is closed with 1008 ``csrf_failed``."""
    body = await sign_in(browser)
    reached: list[str] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["state"]["sessionjwt_principal"].session_id)

    guard = GuardMiddleware(
        endpoint, check=auth.check, is_public_request=lambda _: False, cookies=auth.cookies
    )
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    scope = {
        "type": "websocket",
        "path": "/live",
        "headers": [
            (b"host", b"auth.example.test"),
            (b"origin", origin.encode()),
            (b"cookie", f"{ACCESS}={body['access_token']}".encode()),
        ],
    }
    await guard(scope, receive, send)
    if outcome == "accepted":
        assert reached == [body["session_id"]]
        assert sent == []
    else:
        assert reached == []
        assert sent == [{"type": "websocket.close", "code": 1008, "reason": "csrf_failed"}]
