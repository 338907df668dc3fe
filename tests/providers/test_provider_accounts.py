"""An account a provider sign-in made has no password; the password-reset mail gives it one,
after which the provider is no longer its only way in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT
from tests.conftest import PASSWORD, T0, bearer, make_settings
from tests.mail import Inbox, smtp_server, smtp_settings
from tests.providers.op import RP_CLIENT_ID, LocalOP, sign_in
from tests.providers.test_sign_in import (
    CALLBACK,
    access_cookie,
    browser_for,
    come_back,
    provider,
    start_flow,
)
from tests.test_password_reset import RESET_URL, TOKEN_IN_LINK

NEW_PASSWORD = "a password of her own 42"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(TOKEN_IN_LINK)
    with smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture
async def rp(
    tmp_path: Path, fresh_op: LocalOP, smtp: tuple[Inbox, int]
) -> AsyncIterator[SessionJWT]:
    await fresh_op.configure_client(RP_CLIENT_ID, redirect_uris=[CALLBACK])
    settings = make_settings(
        tmp_path,
        providers=[provider(fresh_op)],
        **smtp_settings(smtp[1]),
        password_reset_url=RESET_URL,
    )
    auth = SessionJWT(settings, clock=ManualClock(T0))
    await auth.start()
    try:
        yield auth
    finally:
        await auth.close()


async def login_status(client: httpx.AsyncClient, password: str) -> int:
    answer = await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": password}
    )
    return answer.status_code


async def test_a_provider_made_account_sets_a_password_by_the_reset_mail(
    rp: SessionJWT, fresh_op: LocalOP, smtp: tuple[Inbox, int]
) -> None:
    inbox = smtp[0]
    async with browser_for(rp) as browser:
        back = await come_back(browser, await sign_in(fresh_op, await start_flow(browser), "alice"))
        assert back.status_code == 302, back.text
        token = access_cookie(browser)
        assert await login_status(browser, PASSWORD) == 401  # no password: none matches
        (identity,) = (await browser.get("/auth/identities", headers=bearer(token))).json()
        last = await browser.delete(f"/auth/identities/{identity['id']}", headers=bearer(token))
        assert last.status_code == 409 and last.json()["error"] == "last_sign_in_method"

        asked = await browser.post("/auth/password-reset", json={"email": "alice@example.com"})
        assert asked.status_code == 202
        await asyncio.gather(*rp.password_resets.mail_under_way)
        confirmed = await browser.post(
            "/auth/password-reset/confirm",
            json={"token": inbox.token_for("alice@example.com"), "new_password": NEW_PASSWORD},
        )
        assert confirmed.status_code == 204, confirmed.text
        # As for any reset: every session ends, the provider's too.
        assert (await browser.get("/auth/me", headers=bearer(token))).status_code == 401

        assert await login_status(browser, NEW_PASSWORD) == 200
        pair = await rp.login("alice@example.com", NEW_PASSWORD)
        gone = await browser.delete(
            f"/auth/identities/{identity['id']}", headers=bearer(pair.access_token)
        )
        assert gone.status_code == 204  # the password is another way in now
        assert await login_status(browser, NEW_PASSWORD) == 200
