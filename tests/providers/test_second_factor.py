"""A provider sign-in to an account with a second factor takes the same second step as a
password sign-in: the provider vouches for the first factor only."""

# The fixtures are imported from the modules that define them, and the test names them as
# its parameters: what ruff reads as a redefinition.
# ruff: noqa: F811

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from sessionjwt import SessionJWT
from tests.conftest import bearer
from tests.factors.conftest import AuthenticatorApp, authenticator  # noqa: F401
from tests.providers.op import LocalOP, sign_in
from tests.providers.test_sign_in import (  # noqa: F401
    access_cookie,
    browser,
    come_back,
    op,
    payload,
    rp,
    signed_in,
    start_flow,
)


def pending_cookie(browser: httpx.AsyncClient) -> str:
    value = next(c.value for c in browser.cookies.jar if c.name.endswith("sjwt-mfa"))
    assert value is not None
    return value


async def test_a_provider_sign_in_waits_for_the_accounts_second_factor(
    browser: httpx.AsyncClient,
    rp: SessionJWT,
    op: LocalOP,
    authenticator: AuthenticatorApp,
) -> None:
    first = await signed_in(browser, op)
    started = await browser.post("/auth/mfa/totp", headers=bearer(first))
    assert started.status_code == 200, started.text
    uri = started.json()["otpauth_uri"]
    confirmed = await browser.post(
        "/auth/mfa/totp/confirm",
        json={"code": authenticator.code(uri, rp.clock.now())},
        headers=bearer(first),
    )
    assert confirmed.status_code == 200, confirmed.text
    browser.cookies.clear()
    rp.clock.advance(30)  # type: ignore[attr-defined]

    back = await come_back(browser, await sign_in(op, await start_flow(browser), "alice"))
    assert back.status_code == 302
    assert urlsplit(back.headers["location"]).path == "/signin/second-factor"
    assert not any(c.name.endswith("sjwt-access") for c in browser.cookies.jar)
    mfa_token = pending_cookie(browser)
    done = await browser.post(
        "/auth/login/mfa",
        json={"mfa_token": mfa_token, "code": authenticator.code(uri, rp.clock.now())},
    )
    assert done.status_code == 200, done.text
    claims = payload(done.json()["access_token"])
    assert claims["amr"] == ["fed", "otp", "mfa"] and claims["idp"] == "op"
    user = await rp.users.find_by_email("alice@example.com")
    assert user is not None
    sessions = {s.id: s for s in await rp.list_sessions(user.id)}
    completed = sessions[done.json()["session_id"]]
    # The session carries the provider and the identity, which the provider's back-channel
    # logout finds sessions by, like any other provider session.
    identity = (await rp.providers.identities(user.id))[0] if rp.providers else None
    assert identity is not None
    assert (completed.idp, completed.identity_id) == ("op", identity.id)
