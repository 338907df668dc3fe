"""Forged form posts: no token, a wrong token, another site's Origin or Fetch-Metadata. Each is
refused with 403 before anything happens (login CSRF included)."""

from __future__ import annotations

import pytest

from sessionjwt import SessionJWT
from tests.conftest import PASSWORD
from tests.pages.conftest import (
    ACCESS,
    FIREFOX_WINDOWS,
    Browser,
    BrowserFactory,
    assert_security_headers,
    principal_of,
    signed_in,
)

FORGERIES: list[tuple[str, dict[str, object]]] = [
    ("no token", {"csrf": None}),
    ("empty token", {"csrf": ""}),
    ("wrong token", {"csrf": "A" * 43}),
    ("other origin", {"origin": "https://evil.example"}),
    ("null origin", {"origin": "null"}),
    ("http origin of another port", {"origin": "https://testserver:8443"}),
    ("no origin at all", {"origin": None}),
    ("cross-site fetch metadata", {"headers": {"Sec-Fetch-Site": "cross-site"}}),
    ("same-site fetch metadata", {"headers": {"Sec-Fetch-Site": "same-site"}}),
]
IDS = [name for name, _ in FORGERIES]
FORGED = [options for _, options in FORGERIES]


def assert_refused(response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status == 403, response.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("forged", FORGED, ids=IDS)
async def test_a_forged_sign_up_creates_no_account(
    browser: Browser, auth: SessionJWT, forged: dict[str, object]
) -> None:
    response = await browser.submit(
        "/signup",
        {"email": "victim@example.com", "password": PASSWORD},
        **forged,  # type: ignore[arg-type]
    )
    assert_refused(response)
    assert 'role="alert"' in response.text
    assert_security_headers(response)
    assert await auth.users.find_by_email("victim@example.com") is None


@pytest.mark.parametrize("forged", FORGED, ids=IDS)
async def test_a_forged_sign_in_sets_no_cookie(
    browser: Browser, auth: SessionJWT, forged: dict[str, object]
) -> None:
    await auth.register("attacker@example.com", PASSWORD)
    response = await browser.submit(
        "/signin",
        {"email": "attacker@example.com", "password": PASSWORD},
        **forged,  # type: ignore[arg-type]
    )
    assert_refused(response)
    assert ACCESS not in response.headers.get("set-cookie", "")
    assert browser.access_token is None


@pytest.mark.parametrize("forged", FORGED, ids=IDS)
async def test_a_forged_revoke_leaves_the_device_signed_in(
    auth: SessionJWT, open_browser: BrowserFactory, forged: dict[str, object]
) -> None:
    first = await signed_in(auth, open_browser)
    second = await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    victim = await principal_of(auth, second)
    response = await first.submit(
        f"/devices/{victim.session_id}/revoke",
        **forged,  # type: ignore[arg-type]
    )
    assert_refused(response)
    assert len(await auth.list_sessions(victim.user_id)) == 2


@pytest.mark.parametrize(
    "path", ["/signout", "/devices/revoke-others", "/security/password", "/reauth"]
)
async def test_every_other_signed_in_form_refuses_a_missing_token(
    auth: SessionJWT, open_browser: BrowserFactory, path: str
) -> None:
    browser = await signed_in(auth, open_browser)
    other = await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    principal = await principal_of(auth, browser)
    response = await browser.submit(
        path,
        {"current_password": PASSWORD, "new_password": "a brand new passphrase 42"},
        csrf=None,
    )
    assert_refused(response)
    assert len(await auth.list_sessions(principal.user_id)) == 2
    assert other.access_token is not None
    await auth.authenticate("alice@example.com", PASSWORD)  # the password did not change


async def test_a_forged_password_reset_request_sends_nothing(
    browser: Browser, auth: SessionJWT
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    response = await browser.submit(
        "/password-reset", {"email": "alice@example.com"}, origin="https://evil.example"
    )
    assert_refused(response)
    assert auth.password_resets.mail_under_way == set()


async def test_a_trusted_origin_is_accepted(browser: Browser, auth: SessionJWT) -> None:
    auth.settings.trusted_origins.append("https://app.example.test")
    try:
        response = await browser.submit(
            "/signup",
            {"email": "bob@example.com", "password": PASSWORD},
            origin="https://app.example.test",
        )
    finally:
        auth.settings.trusted_origins.remove("https://app.example.test")
    assert response.status_code == 303
