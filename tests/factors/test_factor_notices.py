"""Changes to how an account signs in are mailed to it (ASVS V6.3.7): a factor added or
removed, a recovery code used, an administrator's reset. The mail goes to a real SMTP
server on 127.0.0.1 and is read back from it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, bearer, make_settings, register_and_login
from tests.factors.conftest import AuthenticatorApp
from tests.factors.test_totp_sign_in import enrol, password_step, second_step
from tests.mail import Inbox, smtp_server, smtp_settings

EMAIL = "alice@example.com"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox(re.compile(r"(never-a-link)"))
    with smtp_server(box) as port:
        yield box, port


@pytest.fixture
async def mailing(
    tmp_path: Path, clock: ManualClock, inbox: tuple[Inbox, int]
) -> AsyncIterator[tuple[SessionJWT, httpx.AsyncClient]]:
    settings = make_settings(
        tmp_path,
        **smtp_settings(inbox[1]),
    )
    async with SessionJWT(settings, clock=clock) as auth:
        transport = httpx.ASGITransport(app=create_app(auth=auth), client=("203.0.113.7", 5))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield auth, http


async def delivered(auth: SessionJWT) -> None:
    await asyncio.gather(*auth.components.outbox.under_way)


async def test_adding_a_factor_using_a_recovery_code_and_a_reset_are_each_mailed(
    mailing: tuple[SessionJWT, httpx.AsyncClient],
    inbox: tuple[Inbox, int],
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    auth, http = mailing
    box = inbox[0]
    tokens = await register_and_login(http)
    _, codes = await enrol(http, tokens, authenticator, clock)
    await delivered(auth)
    assert [m["Subject"] for m in box.mails_to(EMAIL)] == ["A sign-in method was added"]
    assert "authenticator app was set up" in box.text_for(EMAIL)
    assert codes[0] not in box.text_for(EMAIL)  # never a secret in a mail

    done = await second_step(http, (await password_step(http))["mfa_token"], recovery_code=codes[1])
    assert done.status_code == 200
    await delivered(auth)
    assert box.mails_to(EMAIL)[-1]["Subject"] == "A recovery code was used"

    user = await auth.users.find_by_email(EMAIL)
    assert user is not None
    before = await auth.reset_factors(user.id, actor="admin-cli")
    assert (before.totp, before.recovery_codes_left) == (True, 9)
    await delivered(auth)
    assert box.mails_to(EMAIL)[-1]["Subject"] == "Your sign-in methods were reset"
    ended = await http.get("/auth/me", headers=bearer(done.json()["access_token"]))
    assert (ended.status_code, ended.json()["error"]) == (401, "session_revoked")
    plain = await http.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert "access_token" in plain.json()


async def test_a_wrong_password_says_nothing_about_the_accounts_factors(
    mailing: tuple[SessionJWT, httpx.AsyncClient],
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    _, http = mailing
    await enrol(http, await register_and_login(http), authenticator, clock)
    await register_and_login(http, "bob@example.com")
    with_factor = await http.post("/auth/login", json={"email": EMAIL, "password": "wrong!"})
    without = await http.post("/auth/login", json={"email": "bob@example.com", "password": "x!"})
    assert with_factor.status_code == without.status_code == 401
    assert with_factor.json() == without.json()
