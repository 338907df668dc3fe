"""``SESSIONJWT_MFA_REQUIRED_ROLES``: a user whose roles need a second factor but who has
none enrols one at the next sign-in, before any session exists; others are untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.errors import MfaRequired
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, bearer, make_settings
from tests.factors.conftest import AuthenticatorApp


@pytest.fixture
async def strict(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SessionJWT]:
    auth = SessionJWT(make_settings(tmp_path, mfa_required_roles=["admin"]), clock=clock)
    await auth.start()
    try:
        yield auth
    finally:
        await auth.close()


@pytest.fixture
async def http(strict: SessionJWT) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(auth=strict), client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def login(http: httpx.AsyncClient, email: str) -> dict[str, Any]:
    answer = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_an_admin_without_a_factor_enrols_before_getting_a_session(
    strict: SessionJWT, http: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    await strict.register("root@example.com", PASSWORD, roles=["admin"])
    pending = await login(http, "root@example.com")
    assert pending == {
        "mfa_required": True,
        "mfa_token": pending["mfa_token"],
        "methods": [],
        "expires_in": 300,
        "enrolment_required": True,
    }
    enrolment = await http.post("/auth/login/mfa/totp", json={"mfa_token": pending["mfa_token"]})
    assert enrolment.status_code == 200, enrolment.text
    uri = enrolment.json()["otpauth_uri"]
    # Showing the step again keeps the same secret: the app's code stays valid.
    again = await http.post("/auth/login/mfa/totp", json={"mfa_token": pending["mfa_token"]})
    assert again.json()["otpauth_uri"] == uri
    done = await http.post(
        "/auth/login/mfa",
        json={"mfa_token": pending["mfa_token"], "code": authenticator.code(uri, clock.now())},
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert len(body["recovery_codes"]) == 10
    amr = jwt.decode(body["access_token"], options={"verify_signature": False})["amr"]
    assert amr == ["pwd", "otp", "mfa"]
    principal = await strict.check(body["access_token"])
    await strict.require_mfa(principal)  # passes
    factors = (await http.get("/auth/mfa", headers=bearer(body["access_token"]))).json()
    assert factors["totp"] is True
    clock.advance(30)
    # From now on the account simply has a factor.
    assert (await login(http, "root@example.com"))["methods"] == ["totp", "recovery_code"]


async def test_a_wrong_first_code_does_not_enrol_and_others_sign_in_as_before(
    strict: SessionJWT, http: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    await strict.register("root@example.com", PASSWORD, roles=["admin"])
    pending = await login(http, "root@example.com")
    await http.post("/auth/login/mfa/totp", json={"mfa_token": pending["mfa_token"]})
    wrong = await http.post(
        "/auth/login/mfa", json={"mfa_token": pending["mfa_token"], "code": "000000"}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_code")
    user = await strict.users.find_by_email("root@example.com")
    assert user is not None and not (await strict.factors.summary(user.id)).any

    await strict.register("member@example.com", PASSWORD)
    member = await login(http, "member@example.com")
    assert "access_token" in member
    principal = await strict.check(member["access_token"])
    with pytest.raises(MfaRequired):
        await strict.require_mfa(principal)


async def test_a_star_requires_a_second_factor_of_every_account(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with SessionJWT(make_settings(tmp_path, mfa_required_roles=["*"]), clock=clock) as auth:
        await auth.register("member@example.com", PASSWORD)
        pending = await auth.sign_in("member@example.com", PASSWORD)
        assert getattr(pending, "enrolment_required", False) is True
