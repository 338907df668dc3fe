"""Sign-in with an identity provider, against a real OpenID Provider (``local_op``).

The browser is httpx with a cookie jar on the RP's origin; the OP's login is scripted by
:func:`tests.providers.op.sign_in`, which stops at the OP's redirect back to us.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.server.app import create_app
from tests.conftest import ISSUER, PASSWORD, T0, bearer, make_settings
from tests.providers.op import OTHER_CLIENT_ID, RP_CLIENT_ID, LocalOP, id_token_for, sign_in

CALLBACK = f"{ISSUER}/auth/providers/op/callback"


def provider(op: LocalOP, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "op",
        "display_name": "Local OP",
        "issuer": op.issuer,
        "client_id": RP_CLIENT_ID,
        "client_secret": op.clients[RP_CLIENT_ID].client_secret,
    }
    entry.update(overrides)
    return entry


@pytest.fixture
async def op(fresh_op: LocalOP) -> LocalOP:
    trusting = CALLBACK.replace("/op/", "/trusting/")
    await fresh_op.configure_client(RP_CLIENT_ID, redirect_uris=[CALLBACK, trusting])
    await fresh_op.configure_client(OTHER_CLIENT_ID, redirect_uris=["https://app.invalid/cb"])
    return fresh_op


async def started(tmp_path: Path, *providers: dict[str, Any]) -> SessionJWT:
    auth = SessionJWT(make_settings(tmp_path, providers=list(providers)), clock=ManualClock(T0))
    await auth.start()
    return auth


@pytest.fixture
async def rp(tmp_path: Path, op: LocalOP) -> AsyncIterator[SessionJWT]:
    auth = await started(tmp_path, provider(op), provider(op, name="trusting", trust_email=True))
    try:
        yield auth
    finally:
        await auth.close()


def browser_for(auth: SessionJWT) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(auth=auth), client=("203.0.113.9", 50000))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


@pytest.fixture
async def browser(rp: SessionJWT) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_for(rp) as client:
        yield client


async def start_flow(
    browser: httpx.AsyncClient, name: str = "op", return_to: str = "/devices"
) -> str:
    begun = await browser.get(f"/auth/providers/{name}/authorize", params={"return_to": return_to})
    assert begun.status_code == 302, begun.text
    assert begun.headers["cache-control"] == "no-store"
    return begun.headers["location"]


async def come_back(browser: httpx.AsyncClient, redirect: str) -> httpx.Response:
    parts = urlsplit(redirect)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}".startswith(f"{ISSUER}/auth/providers/")
    return await browser.get(f"{parts.path}?{parts.query}")


async def signed_in(browser: httpx.AsyncClient, op: LocalOP, login: str = "alice") -> str:
    """A full sign-in as ``login``; the access token the callback set as a cookie."""
    answer = await come_back(browser, await sign_in(op, await start_flow(browser), login))
    assert answer.status_code == 302, answer.text
    return access_cookie(browser)


def access_cookie(browser: httpx.AsyncClient) -> str:
    """The access token the callback put in the browser's cookie jar."""
    token = next(c.value for c in browser.cookies.jar if c.name.endswith("sjwt-access"))
    assert token is not None
    return token


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


# -- the flow ------------------------------------------------------------------------------------


async def test_the_authorization_request_carries_pkce_state_nonce_and_our_callback(
    browser: httpx.AsyncClient, op: LocalOP
) -> None:
    location = await start_flow(browser)
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(f"{op.issuer}/auth?")
    assert query["response_type"] == "code"
    assert query["client_id"] == RP_CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    flow_cookie = next(c for c in browser.cookies.jar if c.name.endswith("sjwt-flow"))
    assert flow_cookie.secure and flow_cookie.has_nonstandard_attr("HttpOnly")


async def test_a_first_sign_in_makes_a_session_like_a_password_sign_in(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    answer = await come_back(browser, await sign_in(op, await start_flow(browser), "alice"))
    assert answer.status_code == 302
    assert answer.headers["location"] == "/devices"
    token = access_cookie(browser)
    me = await browser.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "alice@example.com"
    claims = payload(token)
    assert claims["amr"] == ["fed"] and claims["idp"] == "op"
    user = await rp.users.find_by_email("alice@example.com")
    assert user is not None and user.password_hash is None
    sessions = await rp.list_sessions(user.id)
    assert [session.idp for session in sessions] == ["op"]
    events = [event.event for event in (await rp.audit.query(user_id=user.id, limit=10))]
    assert {"register", "identity_linked", "login_ok"} <= set(events)


async def test_signing_in_again_finds_the_same_account_by_subject(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    first = payload(await signed_in(browser, op))
    browser.cookies.clear()
    second = payload(await signed_in(browser, op))
    assert first["sub"] == second["sub"] and first["sid"] != second["sid"]
    identities = await rp.providers.identities(first["sub"]) if rp.providers else []
    assert [(i.provider, i.subject) for i in identities] == [("op", "alice")]


async def test_the_session_is_revoked_like_any_other(
    browser: httpx.AsyncClient, op: LocalOP
) -> None:
    token = await signed_in(browser, op)
    assert (await browser.post("/auth/logout", headers=bearer(token))).status_code == 204
    refused = await browser.get("/auth/me", headers=bearer(token))
    assert refused.status_code == 401 and refused.json()["error"] == "session_revoked"


async def test_the_provider_refusing_gives_no_session(
    browser: httpx.AsyncClient, op: LocalOP
) -> None:
    answer = await come_back(browser, await sign_in(op, await start_flow(browser), "x", deny=True))
    assert answer.status_code == 401
    assert answer.json()["error"] == "provider_denied"
    assert not any(c.name.endswith("access") for c in browser.cookies.jar)


# -- attacks on the flow -------------------------------------------------------------------------


async def test_a_replayed_state_is_refused(browser: httpx.AsyncClient, op: LocalOP) -> None:
    redirect = await sign_in(op, await start_flow(browser), "alice")
    assert (await come_back(browser, redirect)).status_code == 302
    browser.cookies.clear()
    replay = await come_back(browser, redirect)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_state"


async def test_a_callback_in_another_browser_is_refused(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    """Login CSRF: the attacker's own code and state, planted in the victim's browser."""
    redirect = await sign_in(op, await start_flow(browser), "alice")
    async with browser_for(rp) as victim:
        planted = await come_back(victim, redirect)
        assert planted.status_code == 400 and planted.json()["error"] == "invalid_state"
        assert not any(c.name.endswith("access") for c in victim.cookies.jar)
    # ... and the state is used up: the attacker cannot finish it either.
    late = await come_back(browser, redirect)
    assert late.status_code == 400 and late.json()["error"] == "invalid_state"


async def test_a_forged_state_is_refused(browser: httpx.AsyncClient, op: LocalOP) -> None:
    await start_flow(browser)
    forged = await browser.get("/auth/providers/op/callback?code=abc&state=" + "A" * 43)
    assert forged.status_code == 400 and forged.json()["error"] == "invalid_state"


@pytest.mark.parametrize(
    "return_to",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"],
)
async def test_return_to_cannot_leave_the_site(
    browser: httpx.AsyncClient, op: LocalOP, return_to: str
) -> None:
    redirect = await sign_in(op, await start_flow(browser, return_to=return_to), "alice")
    answer = await come_back(browser, redirect)
    assert answer.status_code == 302
    assert answer.headers["location"] in ("/", "/devices")


EXPIRED = {"error": "invalid_id_token", "message": "The identity provider's token has expired."}
WRONG_NONCE = {
    "error": "invalid_id_token",
    "message": "The ID token does not answer this sign-in (nonce).",
}


def no_session(browser: httpx.AsyncClient) -> bool:
    return not any(c.name.endswith("sjwt-access") for c in browser.cookies.jar)


async def test_an_expired_id_token_at_the_callback_gives_no_session(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    """The OP signs the ID token with its clock two hours behind: a genuine token whose one-hour
    lifetime ended an hour ago, as a delayed or replayed answer would be."""
    redirect = await sign_in(op, await start_flow(browser), "alice")
    async with op.clock_behind(2 * 3600):
        answer = await come_back(browser, redirect)
    assert answer.status_code == 401 and answer.json() == EXPIRED
    assert no_session(browser)
    assert await rp.users.find_by_email("alice@example.com") is None


async def test_an_id_token_for_another_nonce_is_refused_at_the_callback(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    """Code injection: the code in this browser's callback was issued to an authorization
    request with another nonce than the one this browser's flow sent."""
    parts = urlsplit(await start_flow(browser))
    query = parse_qs(parts.query)
    query["nonce"] = [secrets.token_urlsafe(32)]
    elsewhere = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    answer = await come_back(browser, await sign_in(op, elsewhere, "alice"))
    assert answer.status_code == 401 and answer.json() == WRONG_NONCE
    assert no_session(browser)
    assert await rp.users.find_by_email("alice@example.com") is None


# -- accounts: never taken over by an e-mail claim -----------------------------------------------


async def test_an_unverified_address_makes_no_account(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    answer = await come_back(browser, await sign_in(op, await start_flow(browser), "bob"))
    assert answer.status_code == 403 and answer.json()["error"] == "provider_email_unverified"
    assert await rp.users.find_by_email("bob@example.com") is None


async def test_a_matching_address_does_not_take_over_an_existing_account(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    owner = await rp.register("alice@example.com", PASSWORD)
    answer = await come_back(browser, await sign_in(op, await start_flow(browser), "alice"))
    assert answer.status_code == 409 and answer.json()["error"] == "account_exists"
    assert rp.providers is not None
    assert await rp.providers.identities(owner.id) == []


async def test_a_trusted_provider_with_a_verified_address_links_the_account(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    owner = await rp.register("alice@example.com", PASSWORD)
    location = await start_flow(browser, "trusting")
    answer = await come_back(browser, await sign_in(op, location, "alice"))
    assert answer.status_code == 302, answer.text
    token = access_cookie(browser)
    assert payload(token)["sub"] == owner.id
    assert rp.providers is not None
    assert [i.provider for i in await rp.providers.identities(owner.id)] == ["trusting"]


# -- linking and unlinking -----------------------------------------------------------------------


async def test_a_signed_in_user_links_a_provider_and_unlinks_it(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    carol = await rp.register("carol@example.com", PASSWORD)
    pair = await rp.login("carol@example.com", PASSWORD)
    asked = await browser.post("/auth/providers/op/link", headers=bearer(pair.access_token))
    assert asked.status_code == 200, asked.text
    linked = await come_back(browser, await sign_in(op, asked.json()["authorize_url"], "alice"))
    assert linked.status_code == 302 and linked.headers["location"] == "/security"
    listed = await browser.get("/auth/identities", headers=bearer(pair.access_token))
    assert [(i["provider"], i["email"]) for i in listed.json()] == [("op", "alice@example.com")]
    # Signing in with the provider now reaches carol's account.
    browser.cookies.clear()
    assert payload(await signed_in(browser, op))["sub"] == carol.id
    removed = await browser.delete(
        f"/auth/identities/{listed.json()[0]['id']}", headers=bearer(pair.access_token)
    )
    assert removed.status_code == 204
    still = await browser.get("/auth/me", headers=bearer(pair.access_token))
    assert still.status_code == 200  # unlinking ends no session


async def test_the_last_way_to_sign_in_cannot_be_unlinked(
    browser: httpx.AsyncClient, op: LocalOP
) -> None:
    token = await signed_in(browser, op)
    listed = (await browser.get("/auth/identities", headers=bearer(token))).json()
    refused = await browser.delete(f"/auth/identities/{listed[0]['id']}", headers=bearer(token))
    assert refused.status_code == 409 and refused.json()["error"] == "last_sign_in_method"


async def test_an_identity_linked_to_one_account_cannot_be_linked_to_another(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    await signed_in(browser, op)  # alice's identity now belongs to a provider-made account
    await rp.register("dave@example.com", PASSWORD)
    pair = await rp.login("dave@example.com", PASSWORD)
    asked = await browser.post("/auth/providers/op/link", headers=bearer(pair.access_token))
    answer = await come_back(browser, await sign_in(op, asked.json()["authorize_url"], "alice"))
    assert answer.status_code == 409 and answer.json()["error"] == "identity_taken"


# -- ID tokens from native and single-page apps --------------------------------------------------


async def test_an_apps_own_id_token_becomes_a_session(tmp_path: Path, op: LocalOP) -> None:
    auth = await started(tmp_path, provider(op, audiences=[OTHER_CLIENT_ID]))
    try:
        nonce = secrets.token_urlsafe(24)
        id_token = await id_token_for(op, OTHER_CLIENT_ID, "alice", nonce)
        async with browser_for(auth) as app:
            answer = await app.post(
                "/auth/providers/op/id-token", json={"id_token": id_token, "nonce": nonce}
            )
            assert answer.status_code == 200, answer.text
            me = await app.get("/auth/me", headers=bearer(answer.json()["access_token"]))
            assert me.json()["email"] == "alice@example.com"
            replayed_nonce = await app.post(
                "/auth/providers/op/id-token",
                json={"id_token": id_token, "nonce": secrets.token_urlsafe(24)},
            )
            assert replayed_nonce.status_code == 401
            assert replayed_nonce.json()["error"] == "invalid_id_token"
    finally:
        await auth.close()


async def test_an_apps_id_token_with_a_wrong_nonce_gives_no_session(
    tmp_path: Path, op: LocalOP
) -> None:
    auth = await started(tmp_path, provider(op, audiences=[OTHER_CLIENT_ID]))
    try:
        nonce = secrets.token_urlsafe(24)
        id_token = await id_token_for(op, OTHER_CLIENT_ID, "alice", nonce)
        async with browser_for(auth) as app:
            for wrong in (secrets.token_urlsafe(24), nonce[:-1], nonce + "x"):
                answer = await app.post(
                    "/auth/providers/op/id-token", json={"id_token": id_token, "nonce": wrong}
                )
                assert answer.status_code == 401 and answer.json() == WRONG_NONCE, wrong
        assert await auth.users.find_by_email("alice@example.com") is None
    finally:
        await auth.close()


async def test_an_apps_expired_id_token_gives_no_session(tmp_path: Path, op: LocalOP) -> None:
    auth = await started(tmp_path, provider(op, audiences=[OTHER_CLIENT_ID]))
    try:
        async with browser_for(auth) as app:
            nonce = secrets.token_urlsafe(24)
            stale = await id_token_for(op, OTHER_CLIENT_ID, "alice", nonce, issued_ago=2 * 3600)
            answer = await app.post(
                "/auth/providers/op/id-token", json={"id_token": stale, "nonce": nonce}
            )
            assert answer.status_code == 401 and answer.json() == EXPIRED
            assert await auth.users.find_by_email("alice@example.com") is None
            # Expired 10 s ago: inside the 60 s allowed for the two clocks' skew.
            nonce = secrets.token_urlsafe(24)
            late = await id_token_for(op, OTHER_CLIENT_ID, "alice", nonce, issued_ago=3600 + 10)
            accepted = await app.post(
                "/auth/providers/op/id-token", json={"id_token": late, "nonce": nonce}
            )
            assert accepted.status_code == 200, accepted.text
    finally:
        await auth.close()


async def test_an_id_token_for_another_client_is_refused(
    browser: httpx.AsyncClient, op: LocalOP
) -> None:
    nonce = secrets.token_urlsafe(24)
    id_token = await id_token_for(op, OTHER_CLIENT_ID, "alice", nonce)  # aud: other-app
    answer = await browser.post(
        "/auth/providers/op/id-token", json={"id_token": id_token, "nonce": nonce}
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_id_token"


async def test_an_id_token_from_another_issuer_is_refused(tmp_path: Path, op: LocalOP) -> None:
    """A genuine token, verified by the right keys, presented as another provider's."""
    imposter = provider(
        op,
        name="imposter",
        issuer=f"{op.issuer}/elsewhere",
        authorization_endpoint=op.authorization_endpoint,
        token_endpoint=op.token_endpoint,
        jwks_uri=op.jwks_url,
        audiences=[OTHER_CLIENT_ID],
    )
    auth = await started(tmp_path, imposter)
    try:
        nonce = secrets.token_urlsafe(24)
        id_token = await id_token_for(op, OTHER_CLIENT_ID, "alice", nonce)
        async with browser_for(auth) as app:
            answer = await app.post(
                "/auth/providers/imposter/id-token", json={"id_token": id_token, "nonce": nonce}
            )
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_id_token"
    finally:
        await auth.close()


def _forged(op: LocalOP, alg: str, key: Any, nonce: str, **header: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": op.issuer,
        "aud": RP_CLIENT_ID,
        "sub": "mallory",
        "email": "victim@example.com",
        "email_verified": True,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    }
    return jwt.encode(claims, key, algorithm=alg, headers=header or None)


async def test_alg_none_hs256_and_unknown_keys_are_refused(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    nonce = secrets.token_urlsafe(24)
    secret = op.clients[RP_CLIENT_ID].client_secret
    body = _forged(op, "HS256", "x" * 32, nonce).split(".")[1]
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attempts = {
        "alg none": f"{none_header}.{body}.",
        "HS256 with our client secret": _forged(op, "HS256", secret, nonce),
        "RS256 by a key the OP does not publish": _forged(op, "RS256", stranger, nonce, kid="k1"),
    }
    for what, token in attempts.items():
        answer = await browser.post(
            "/auth/providers/op/id-token", json={"id_token": token, "nonce": nonce}
        )
        assert answer.status_code == 401, what
        assert answer.json()["error"] == "invalid_id_token", what
    assert await rp.users.find_by_email("victim@example.com") is None


# -- pages ---------------------------------------------------------------------------------------


async def test_the_sign_in_and_sign_up_pages_offer_each_provider(
    browser: httpx.AsyncClient,
) -> None:
    signin = await browser.get("/signin", params={"next": "/security"})
    assert signin.status_code == 200
    assert 'href="/auth/providers/op/authorize?return_to=/security"' in signin.text
    assert "Sign in with Local OP" in signin.text
    assert 'href="/auth/providers/trusting/authorize?return_to=/security"' in signin.text
    signup = await browser.get("/signup")
    assert 'href="/auth/providers/op/authorize?return_to=/devices"' in signup.text
    assert "Sign up with Local OP" in signup.text


async def test_a_browser_sent_back_with_a_refusal_gets_a_page_not_json(
    browser: httpx.AsyncClient, op: LocalOP
) -> None:
    navigation = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
    redirect = await sign_in(op, await start_flow(browser), "x", deny=True)
    parts = urlsplit(redirect)
    page = await browser.get(f"{parts.path}?{parts.query}", headers=navigation)
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-error-code"] == "provider_denied"
    assert "did not sign you in" in page.text and 'href="/signin"' in page.text
    assert not any(c.name.endswith("sjwt-access") for c in browser.cookies.jar)
