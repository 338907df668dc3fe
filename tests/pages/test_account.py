"""Sign up, sign in and sign out through the pages, as a person (and an attacker) would."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from sessionjwt import ManualClock, SessionJWT
from tests.conftest import PASSWORD
from tests.pages.conftest import (
    ACCESS,
    REFRESH,
    Browser,
    BrowserFactory,
    alert,
    principal_of,
    signed_in,
    status_notice,
)


def set_cookies(response: object) -> dict[str, str]:
    """name → the raw Set-Cookie line, attributes included."""
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return {line.split("=", 1)[0]: line for line in headers}


def attributes(line: str) -> dict[str, str]:
    parsed = SimpleCookie()
    parsed.load(line)
    (morsel,) = parsed.values()
    return {key: str(value) for key, value in morsel.items() if value}


async def test_root_sends_browsers_to_their_devices(browser: Browser) -> None:
    response = await browser.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/devices"


async def test_sign_up_then_sign_in_lands_on_the_devices_page(
    browser: Browser, auth: SessionJWT
) -> None:
    page = await browser.get("/signup")
    assert page.status_code == 200
    assert '<label for="email">Email</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert ">Create account</button>" in page.text

    created = await browser.submit("/signup", {"email": "bob@example.com", "password": PASSWORD})
    assert created.status_code == 303
    assert created.headers["location"] == "/signin?registered=1"
    notice = await browser.get("/signin?registered=1")
    assert status_notice(notice) == "Account created. Sign in to continue."
    assert await auth.users.find_by_email("bob@example.com") is not None

    signed = await browser.sign_in("bob@example.com")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/devices"
    devices = await browser.get("/devices")
    assert devices.status_code == 200
    assert "<h1>Your devices</h1>" in devices.text


async def test_sign_up_errors_re_render_the_form_with_an_alert(
    browser: Browser, auth: SessionJWT
) -> None:
    await auth.register("taken@example.com", PASSWORD)
    taken = await browser.submit("/signup", {"email": "taken@example.com", "password": PASSWORD})
    assert taken.status_code == 409
    assert alert(taken) == "An account with this email already exists."
    assert 'value="taken@example.com"' in taken.text

    weak = await browser.submit("/signup", {"email": "new@example.com", "password": "short"})
    assert weak.status_code == 422
    assert "at least" in alert(weak)
    assert await auth.users.find_by_email("new@example.com") is None


async def test_sign_in_sets_host_and_secure_cookies_with_their_attributes(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    browser = await open_browser("pytest")
    response = await browser.sign_in("alice@example.com")
    assert response.status_code == 303
    cookies = set_cookies(response)
    access = attributes(cookies[ACCESS])
    assert access["path"] == "/"
    assert access["httponly"] and access["secure"]
    assert access["samesite"].lower() == "lax"
    assert "domain" not in access
    refresh = attributes(cookies[REFRESH])
    assert refresh["path"] == "/auth/refresh"
    assert refresh["httponly"] and refresh["secure"]
    assert refresh["samesite"].lower() == "lax"
    assert response.headers["cache-control"] == "no-store"


async def test_a_wrong_password_is_a_401_page_and_sets_no_cookie(
    browser: Browser, auth: SessionJWT
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    response = await browser.sign_in("alice@example.com", "not the password")
    assert response.status_code == 401
    assert alert(response) == "The email or password is incorrect."
    assert ACCESS not in set_cookies(response)
    unknown = await browser.sign_in("nobody@example.com", "whatever it is")
    assert unknown.status_code == 401
    assert alert(unknown) == "The email or password is incorrect."


async def test_repeated_failures_are_throttled_with_a_countdown(
    browser: Browser, auth: SessionJWT
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    statuses = [
        (await browser.sign_in("alice@example.com", f"guess {n}")).status_code for n in range(8)
    ]
    assert statuses[0] == 401
    assert 429 in statuses
    limited = await browser.sign_in("alice@example.com", "another guess")
    assert limited.status_code == 429
    text = alert(limited)
    assert text.startswith("Too many attempts. Try again in ") and text.endswith(" seconds.")
    assert int(limited.headers["retry-after"]) >= 1


async def test_sign_in_links_to_reset_and_sign_up_and_shows_its_notices(browser: Browser) -> None:
    page = await browser.get("/signin")
    assert '<a href="/password-reset">Forgot your password?</a>' in page.text
    assert '<a href="/signup">Create an account</a>' in page.text
    signed_out = await browser.get("/signin?signed_out=1")
    assert status_notice(signed_out) == "You are signed out."
    reset = await browser.get("/signin?reset=1")
    assert status_notice(reset) == "Password changed. Sign in with your new password."


async def test_sign_in_returns_to_a_local_next_page(auth: SessionJWT, browser: Browser) -> None:
    await auth.register("alice@example.com", PASSWORD)
    form = await browser.get("/signin?next=/security")
    assert 'name="next" value="/security"' in form.text
    response = await browser.sign_in("alice@example.com", next="/security")
    assert response.headers["location"] == "/security"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/%2F/evil.example\x00",
        "javascript:alert(1)",
        " //evil.example",
    ],
)
async def test_open_redirects_in_next_land_on_the_devices_page(
    auth: SessionJWT, browser: Browser, target: str
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    response = await browser.sign_in("alice@example.com", next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/devices"


async def test_sign_out_ends_the_session_and_clears_the_cookies(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    browser = await signed_in(auth, open_browser)
    principal = await principal_of(auth, browser)
    response = await browser.submit("/signout")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?signed_out=1"
    cleared = set_cookies(response)
    assert "Max-Age=0" in cleared[ACCESS] or "expires=" in cleared[ACCESS].lower()
    assert REFRESH in cleared
    assert browser.access_token is None
    assert await auth.list_sessions(principal.user_id) == []


async def test_sign_out_of_an_already_ended_session_still_clears_the_cookies(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    browser = await signed_in(auth, open_browser)
    principal = await principal_of(auth, browser)
    await auth.revoke_user_sessions(principal.user_id)
    response = await browser.submit("/signout")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?signed_out=1"
    assert browser.access_token is None


async def test_a_signed_out_browser_signs_in_and_returns_to_the_page_it_asked_for(
    auth: SessionJWT, browser: Browser
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    landed, page = await browser.lands_on("/security")
    assert landed == "/signin?next=/security"
    assert 'name="next" value="/security"' in page.text
    response = await browser.sign_in("alice@example.com", next="/security")
    assert response.headers["location"] == "/security"
    assert (await browser.get("/security")).status_code == 200


async def test_an_expired_access_cookie_is_renewed_on_the_next_page_load(
    auth: SessionJWT, open_browser: BrowserFactory, clock: ManualClock
) -> None:
    browser = await signed_in(auth, open_browser)
    before = browser.access_token
    clock.advance(auth.settings.access_token_ttl.total_seconds() + 60)
    landed, page = await browser.lands_on("/devices")
    assert landed == "/devices"
    assert page.status_code == 200
    assert browser.access_token not in (None, before)


async def test_signing_in_again_replaces_this_browsers_session(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    browser = await signed_in(auth, open_browser)
    first = await principal_of(auth, browser)
    again = await browser.sign_in("alice@example.com")
    assert again.status_code == 303
    second = await principal_of(auth, browser)
    assert second.session_id != first.session_id
    assert [s.id for s in await auth.list_sessions(first.user_id)] == [second.session_id]
