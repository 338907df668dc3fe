"""The ``github`` preset end to end, its endpoints pointed at the local OP: OAuth 2.0 with PKCE
and no ID token, the person from the GitHub-shaped ``GET /user`` (numeric ``id``) and the
address from ``GET /user/emails`` that ``op.mjs`` serves from the OP's own token store.

The OP's accounts as GitHub knows them (``tests/providers/op.py``): alice has a verified primary
address and no public one, bob an unverified primary, octo a public address that is its
unverified primary and a verified secondary one.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sessionjwt import SessionJWT
from tests.conftest import ISSUER, PASSWORD, bearer
from tests.providers.op import (
    LocalOP,
    authorization_url,
    callback_params,
    exchange_code,
    pkce_pair,
    sign_in,
)
from tests.providers.test_sign_in import (
    access_cookie,
    browser_for,
    come_back,
    payload,
    start_flow,
    started,
)

CLIENT_ID = "github-app"
CALLBACKS = [f"{ISSUER}/auth/providers/{name}/callback" for name in ("github", "github-trusting")]


def github(op: LocalOP, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "github",
        "preset": "github",
        "client_id": CLIENT_ID,
        "client_secret": op.clients[CLIENT_ID].client_secret,
        "authorization_endpoint": op.authorization_endpoint,
        "token_endpoint": op.token_endpoint,
        "userinfo_endpoint": f"{op.issuer}/github/user",
        "emails_endpoint": f"{op.issuer}/github/user/emails",
    }
    entry.update(overrides)
    return entry


def github_id(sub: str) -> int:
    """The numeric id op.mjs gives an account without a ``github_id``."""
    return int.from_bytes(hashlib.sha256(sub.encode()).digest()[:4], "big")


@pytest.fixture
async def op(fresh_op: LocalOP) -> LocalOP:
    # GitHub takes the client secret as a form parameter: the OP refuses any other way.
    await fresh_op.configure_client(
        CLIENT_ID, redirect_uris=CALLBACKS, token_endpoint_auth_method="client_secret_post"
    )
    return fresh_op


@pytest.fixture
async def rp(tmp_path: Path, op: LocalOP) -> AsyncIterator[SessionJWT]:
    auth = await started(
        tmp_path,
        github(op, display_name="GitHub", keep_tokens=True),
        github(op, name="github-trusting", trust_email=True),
    )
    try:
        yield auth
    finally:
        await auth.close()


@pytest.fixture
async def browser(rp: SessionJWT) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_for(rp) as client:
        yield client


async def github_api(op: LocalOP, path: str, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        return await http.get(f"{op.issuer}/github{path}", headers=headers)


async def test_the_authorization_request_is_githubs(
    browser: httpx.AsyncClient, op: LocalOP
) -> None:
    location = await start_flow(browser, "github")
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(op.authorization_endpoint + "?")
    assert query["client_id"] == CLIENT_ID
    assert query["scope"] == "read:user user:email"
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 43
    assert "nonce" not in query  # no ID token, so nothing to carry a nonce


async def test_a_github_sign_in_makes_an_account_from_the_verified_primary_address(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    answer = await come_back(
        browser, await sign_in(op, await start_flow(browser, "github"), "alice")
    )
    assert answer.status_code == 302 and answer.headers["location"] == "/devices", answer.text
    token = access_cookie(browser)
    claims = payload(token)
    assert claims["amr"] == ["fed"] and claims["idp"] == "github"
    me = await browser.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"
    user = await rp.users.find_by_email("alice@example.com")
    assert user is not None and user.password_hash is None
    assert rp.providers is not None
    (identity,) = await rp.providers.identities(user.id)
    assert (identity.provider, identity.subject) == ("github", str(github_id("alice")))

    # The kept access token is GitHub's (here: the OP's): the application calls the API with it.
    kept = await rp.providers.tokens_of(user.id, "github")
    assert kept is not None
    answered = await github_api(op, "/user", kept.access_token, **{"User-Agent": "app"})
    assert answered.status_code == 200 and answered.json()["login"] == "alice"

    browser.cookies.clear()  # again: the same account, found by GitHub's numeric id
    again = await come_back(
        browser, await sign_in(op, await start_flow(browser, "github"), "alice")
    )
    assert again.status_code == 302
    assert payload(access_cookie(browser))["sub"] == user.id


async def test_an_unverified_primary_address_makes_no_account(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    """octo's verified secondary address is not the one GitHub calls primary, and its public
    profile address is unverified: neither makes an account."""
    for login in ("octo", "bob"):
        browser.cookies.clear()
        redirect = await sign_in(op, await start_flow(browser, "github"), login)
        answer = await come_back(browser, redirect)
        assert answer.status_code == 403, login
        assert answer.json()["error"] == "provider_email_unverified", login
    for address in ("octo@example.com", "octo-work@example.com", "bob@example.com"):
        assert await rp.users.find_by_email(address) is None
    assert not any(c.name.endswith("sjwt-access") for c in browser.cookies.jar)


async def test_an_unverified_github_address_does_not_take_over_an_account(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    """Even from a provider trusted with addresses: the address must be GitHub-verified."""
    assert rp.providers is not None
    owners = [
        await rp.register(email, PASSWORD) for email in ("octo@example.com", "bob@example.com")
    ]
    for login in ("octo", "bob"):
        browser.cookies.clear()
        redirect = await sign_in(op, await start_flow(browser, "github-trusting"), login)
        answer = await come_back(browser, redirect)
        assert answer.status_code == 403, login
        assert answer.json()["error"] == "provider_email_unverified", login
    for owner in owners:
        assert await rp.providers.identities(owner.id) == []
        assert await rp.list_sessions(owner.id) == []


async def test_a_verified_github_address_links_only_where_trusted(
    browser: httpx.AsyncClient, rp: SessionJWT, op: LocalOP
) -> None:
    assert rp.providers is not None
    owner = await rp.register("alice@example.com", PASSWORD)
    refused = await come_back(
        browser, await sign_in(op, await start_flow(browser, "github"), "alice")
    )
    assert refused.status_code == 409 and refused.json()["error"] == "account_exists"
    browser.cookies.clear()
    linked = await come_back(
        browser, await sign_in(op, await start_flow(browser, "github-trusting"), "alice")
    )
    assert linked.status_code == 302, linked.text
    assert payload(access_cookie(browser))["sub"] == owner.id
    assert [i.provider for i in await rp.providers.identities(owner.id)] == ["github-trusting"]


async def test_the_github_shaped_api_keeps_githubs_rules(op: LocalOP) -> None:
    """The stand-in itself: only a token the OP issued opens it, a User-Agent is required, and
    /user/emails wants the user:email scope, answering GitHub's 404 without it."""
    verifier, challenge = pkce_pair()
    url = authorization_url(op, CLIENT_ID, scope="read:user", code_challenge=challenge)
    back = callback_params(await sign_in(op, url, "octo"))
    grant = await exchange_code(op, CLIENT_ID, back["code"], CALLBACKS[0], verifier)
    assert "id_token" not in grant  # plain OAuth 2.0, as GitHub
    token, agent = grant["access_token"], {"User-Agent": "sessionjwt-tests"}

    user = await github_api(op, "/user", token, **agent)
    assert user.status_code == 200
    assert user.json() | {"node_id": None} == {
        "login": "octocat",
        "id": 583231,
        "node_id": None,
        "type": "User",
        "site_admin": False,
        "name": "Octo Cat",
        "email": "octo@example.com",
    }
    assert user.headers["x-oauth-scopes"] == "read:user"
    assert (await github_api(op, "/user/emails", token, **agent)).status_code == 404
    assert (await github_api(op, "/user", token, **{"User-Agent": ""})).status_code == 403
    unknown = await github_api(op, "/user", token[::-1], **agent)
    assert unknown.status_code == 401 and unknown.json()["message"] == "Bad credentials"
    assert (await github_api(op, "/user", None, **agent)).status_code == 401

    verifier, challenge = pkce_pair()
    url = authorization_url(op, CLIENT_ID, scope="read:user user:email", code_challenge=challenge)
    back = callback_params(await sign_in(op, url, "octo"))
    grant = await exchange_code(op, CLIENT_ID, back["code"], CALLBACKS[0], verifier)
    emails = await github_api(op, "/user/emails", grant["access_token"], **agent)
    assert emails.status_code == 200
    assert [(e["email"], e["primary"], e["verified"]) for e in emails.json()] == [
        ("octo@example.com", True, False),
        ("octo-work@example.com", False, True),
    ]
