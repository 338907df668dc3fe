"""The local OpenID Provider is real: its discovery, its ID tokens (checked by PyJWT against its
JWKS), its refusals, and its back-channel logout tokens arriving at a real HTTP receiver."""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from playwright.sync_api import Route, sync_playwright

from tests.conftest import _require
from tests.e2e.harness import chromium_path
from tests.providers.op import (
    BACKCHANNEL_LOGOUT_EVENT,
    OTHER_CLIENT_ID,
    PLACEHOLDER_REDIRECT_URI,
    RP_CLIENT_ID,
    LocalOP,
    OPError,
    authorization_url,
    backchannel_logout,
    callback_params,
    discovery,
    end_session,
    exchange_code,
    id_token_for,
    jwks,
    pkce_pair,
    sign_in,
)

RP_CALLBACK = "http://127.0.0.1:8765/auth/oidc/callback"
RP_PLACEHOLDER = PLACEHOLDER_REDIRECT_URI


async def verified(
    op: LocalOP, token: str, audience: str, *, algorithm: str = "RS256", typ: str | None = None
) -> dict[str, Any]:
    """``token``'s claims once PyJWT has checked signature, ``iss``, ``aud`` and ``exp``."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    if typ is not None:
        assert header["typ"] == typ
    keys = jwt.PyJWKSet.from_dict(await jwks(op))
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        audience=audience,
        issuer=op.issuer,
        options={"require": ["iss", "aud", "iat", "sub"]},
    )
    return claims


async def code_flow(
    op: LocalOP, client_id: str = RP_CLIENT_ID, login: str = "alice", **options: Any
) -> tuple[dict[str, str], str, str]:
    """One sign-in as an RP runs it: (callback params, nonce, code_verifier)."""
    verifier, challenge = pkce_pair()
    nonce, state = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = authorization_url(
        op, client_id, state=state, nonce=nonce, code_challenge=challenge, **options
    )
    back = callback_params(await sign_in(op, url, login))
    assert back.get("state") == state, back
    return back, nonce, verifier


async def test_discovery_names_the_issuer_its_endpoints_and_back_channel_logout(
    fresh_op: LocalOP,
) -> None:
    document = await discovery(fresh_op)
    assert document["issuer"] == fresh_op.issuer == f"http://127.0.0.1:{fresh_op.port}"
    assert document["authorization_endpoint"] == fresh_op.authorization_endpoint
    assert document["token_endpoint"] == fresh_op.token_endpoint
    assert document["jwks_uri"] == fresh_op.jwks_url
    assert document["end_session_endpoint"] == fresh_op.end_session_endpoint
    assert document["userinfo_endpoint"] == fresh_op.issuer + "/me"
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert {"RS256", "ES256"} <= set(document["id_token_signing_alg_values_supported"])
    assert {"openid", "email", "profile"} <= set(document["scopes_supported"])


async def test_keys_are_new_at_every_start_and_private_parts_stay_private(
    fresh_op: LocalOP,
) -> None:
    keys = (await jwks(fresh_op))["keys"]
    assert {key["kty"] for key in keys} == {"RSA", "EC", "OKP"}
    assert not any("d" in key for key in keys)


async def test_code_flow_with_pkce_yields_an_id_token_pyjwt_verifies(fresh_op: LocalOP) -> None:
    back, nonce, verifier = await code_flow(fresh_op)
    assert back["iss"] == fresh_op.issuer  # RFC 9207 authorization response iss
    tokens = await exchange_code(fresh_op, RP_CLIENT_ID, back["code"], RP_PLACEHOLDER, verifier)
    claims = await verified(fresh_op, tokens["id_token"], RP_CLIENT_ID)
    assert claims["nonce"] == nonce
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Liddell"
    assert "sid" not in claims  # only for clients with backchannel_logout_session_required
    assert time.time() < claims["exp"] <= time.time() + 3600
    # The access token is the OP's too: its userinfo endpoint answers for the same account.
    async with httpx.AsyncClient(trust_env=False) as http:
        userinfo = await http.get(
            fresh_op.issuer + "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["email"] == "alice@example.com"


async def test_an_id_token_verified_for_another_audience_is_refused(fresh_op: LocalOP) -> None:
    nonce = secrets.token_urlsafe(16)
    token = await id_token_for(fresh_op, OTHER_CLIENT_ID, "bob", nonce)  # client_secret_post
    claims = await verified(fresh_op, token, OTHER_CLIENT_ID)
    assert (claims["aud"], claims["sub"], claims["nonce"]) == (OTHER_CLIENT_ID, "bob", nonce)
    assert claims["email_verified"] is False
    with pytest.raises(jwt.InvalidAudienceError):
        await verified(fresh_op, token, RP_CLIENT_ID)


async def test_a_client_can_ask_for_es256_id_tokens(fresh_op: LocalOP) -> None:
    await fresh_op.configure_client(RP_CLIENT_ID, id_token_signed_response_alg="ES256")
    token = await id_token_for(fresh_op, RP_CLIENT_ID, "alice", "n-0")
    assert (await verified(fresh_op, token, RP_CLIENT_ID, algorithm="ES256"))["nonce"] == "n-0"


async def test_the_end_user_refusing_sends_access_denied_to_the_rp(fresh_op: LocalOP) -> None:
    state = secrets.token_urlsafe(16)
    url = authorization_url(
        fresh_op, RP_CLIENT_ID, state=state, nonce="n", code_challenge=pkce_pair()[1]
    )
    back = await sign_in(fresh_op, url, "alice", deny=True)
    assert back.startswith(RP_PLACEHOLDER + "?")
    params = callback_params(back)
    assert params["error"] == "access_denied"
    assert params["state"] == state
    assert "code" not in params


async def test_the_op_refuses_an_authorization_request_without_pkce(fresh_op: LocalOP) -> None:
    url = authorization_url(fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=None)
    params = callback_params(await sign_in(fresh_op, url, "alice"))
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert "code" not in params


async def test_the_op_refuses_a_code_without_its_verifier(fresh_op: LocalOP) -> None:
    back, _nonce, _verifier = await code_flow(fresh_op)
    with pytest.raises(OPError, match="invalid_grant"):
        await exchange_code(fresh_op, RP_CLIENT_ID, back["code"], RP_PLACEHOLDER, pkce_pair()[0])


async def test_redirect_uris_match_exactly_until_the_test_registers_its_own(
    fresh_op: LocalOP,
) -> None:
    with pytest.raises(OPError, match="redirect_uri"):
        await code_flow(fresh_op, redirect_uri=RP_CALLBACK)
    await fresh_op.configure_client(RP_CLIENT_ID, redirect_uris=[RP_CALLBACK])
    back, _nonce, verifier = await code_flow(fresh_op, redirect_uri=RP_CALLBACK)
    tokens = await exchange_code(fresh_op, RP_CLIENT_ID, back["code"], RP_CALLBACK, verifier)
    assert (await verified(fresh_op, tokens["id_token"], RP_CLIENT_ID))["sub"] == "alice"


async def test_the_op_validates_client_metadata_with_its_own_schema(fresh_op: LocalOP) -> None:
    with pytest.raises(OPError, match="redirect_uris"):
        await fresh_op.configure_client(RP_CLIENT_ID, redirect_uris=["http://rp.test/cb#frag"])


async def test_an_unknown_account_cannot_sign_in(fresh_op: LocalOP) -> None:
    url = authorization_url(fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=pkce_pair()[1])
    with pytest.raises(OPError, match="unknown account"):
        await sign_in(fresh_op, url, "mallory")


async def test_the_login_page_is_a_form_a_browser_can_submit(fresh_op: LocalOP) -> None:
    url = authorization_url(fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=pkce_pair()[1])
    async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as browser:
        page = await browser.get(url)
        assert page.status_code == 200
        assert 'name="login" value="alice"' in page.text
        assert "Refuse" in page.text
        assert "http" not in page.text.replace(fresh_op.issuer, "")  # nothing from elsewhere
        back = await browser.get(str(page.url), params={"login": "alice"}, follow_redirects=False)
        assert back.status_code == 303
        location = str(httpx.URL(str(page.url)).join(back.headers["location"]))
        final = await sign_in(fresh_op, location, "ignored", browser=browser)
    assert "code" in callback_params(final)


async def test_an_op_session_signs_the_same_browser_in_again_without_the_login_page(
    fresh_op: LocalOP,
) -> None:
    async with httpx.AsyncClient(trust_env=False) as browser:
        for login in ("alice", "nobody-asked"):  # the second time no login page is shown
            url = authorization_url(
                fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=pkce_pair()[1]
            )
            assert "code" in callback_params(await sign_in(fresh_op, url, login, browser=browser))


def test_chromium_signs_in_and_refuses_on_the_login_page(fresh_op: LocalOP) -> None:
    """The scripted login is an ordinary page: Debian's chromium clicks through it. The RP's
    callback is answered by Playwright's router, so nothing leaves the machine."""
    path = chromium_path()
    _require(None if path else "chromium is not installed (apt-get install chromium)")
    landed: list[str] = []

    def rp(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="RP")

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            for button, expected in (("Sign in as alice", "code"), ("Refuse", "error")):
                context = browser.new_context()
                page = context.new_page()
                page.route(RP_PLACEHOLDER + "*", rp)
                url = authorization_url(
                    fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=pkce_pair()[1]
                )
                page.goto(url)
                page.get_by_role("button", name=button).click()
                page.wait_for_url(RP_PLACEHOLDER + "*", timeout=10_000)
                assert expected in callback_params(landed[-1]), landed
                context.close()
        finally:
            browser.close()
    assert callback_params(landed[-1])["error"] == "access_denied"


# -- back-channel logout -------------------------------------------------------------------------


class LogoutReceiver:
    """A tiny RP back-channel logout endpoint: records each ``logout_token`` POSTed to it."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.tokens.extend(parse_qs(body).get("logout_token", []))
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[LogoutReceiver]:
    receiver = LogoutReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.close()


async def assert_logout_token(op: LocalOP, token: str, client_id: str, sub: str, sid: str) -> None:
    claims = await verified(op, token, client_id, typ="logout+jwt")
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert claims["jti"]
    assert claims["sub"] == sub
    assert claims["sid"] == sid
    assert "nonce" not in claims


async def test_the_op_sends_its_own_logout_tokens_to_each_clients_back_channel(
    fresh_op: LocalOP, receiver: LogoutReceiver
) -> None:
    await fresh_op.configure_client(RP_CLIENT_ID, backchannel_logout_uri=receiver.url)
    await fresh_op.configure_client(OTHER_CLIENT_ID, backchannel_logout_uri=receiver.url)
    async with httpx.AsyncClient(trust_env=False) as browser:
        sids = {}
        for client_id in (RP_CLIENT_ID, OTHER_CLIENT_ID):  # one OP session, two clients
            verifier, challenge = pkce_pair()
            url = authorization_url(fresh_op, client_id, nonce="n", code_challenge=challenge)
            code = callback_params(await sign_in(fresh_op, url, "alice", browser=browser))["code"]
            tokens = await exchange_code(fresh_op, client_id, code, RP_PLACEHOLDER, verifier)
            sids[client_id] = (await verified(fresh_op, tokens["id_token"], client_id))["sid"]

        deliveries = await backchannel_logout(fresh_op, "alice")

        assert sorted((d["client_id"], d["sid"], d["delivered"]) for d in deliveries) == sorted(
            (client_id, sid, True) for client_id, sid in sids.items()
        ), fresh_op.log()
        assert len(receiver.tokens) == 2
        assert receiver.content_types == ["application/x-www-form-urlencoded"] * 2
        audiences = [
            jwt.decode(t, options={"verify_signature": False})["aud"] for t in receiver.tokens
        ]
        for token, audience in zip(receiver.tokens, audiences, strict=True):
            await assert_logout_token(fresh_op, token, audience, "alice", sids[audience])
        # The OP session is gone: the same browser meets the login page again.
        url = authorization_url(fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=pkce_pair()[1])
        shown = await browser.get(url, follow_redirects=True)
        assert 'name="login"' in shown.text
    assert await backchannel_logout(fresh_op, "alice") == []


async def test_rp_initiated_logout_ends_the_op_session_and_notifies_the_back_channel(
    fresh_op: LocalOP, receiver: LogoutReceiver
) -> None:
    after_logout = "https://rp.invalid/signed-out"
    await fresh_op.configure_client(
        RP_CLIENT_ID,
        backchannel_logout_uri=receiver.url,
        post_logout_redirect_uris=[after_logout],
    )
    async with httpx.AsyncClient(trust_env=False) as browser:
        verifier, challenge = pkce_pair()
        url = authorization_url(fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=challenge)
        code = callback_params(await sign_in(fresh_op, url, "bob", browser=browser))["code"]
        tokens = await exchange_code(fresh_op, RP_CLIENT_ID, code, RP_PLACEHOLDER, verifier)
        sid = (await verified(fresh_op, tokens["id_token"], RP_CLIENT_ID))["sid"]

        landed = await end_session(
            fresh_op,
            browser,
            id_token_hint=tokens["id_token"],
            post_logout_redirect_uri=after_logout,
            state="bye",
        )

    assert landed == after_logout + "?state=bye"
    assert len(receiver.tokens) == 1, fresh_op.log()
    await assert_logout_token(fresh_op, receiver.tokens[0], RP_CLIENT_ID, "bob", sid)


async def test_a_back_channel_that_fails_is_reported(fresh_op: LocalOP) -> None:
    await fresh_op.configure_client(
        RP_CLIENT_ID, backchannel_logout_uri="http://127.0.0.1:9/nobody-listens"
    )
    url = authorization_url(fresh_op, RP_CLIENT_ID, nonce="n", code_challenge=pkce_pair()[1])
    assert "code" in callback_params(await sign_in(fresh_op, url, "alice"))
    [delivery] = await backchannel_logout(fresh_op, "alice")
    assert delivery["delivered"] is False
    assert delivery["error"]
