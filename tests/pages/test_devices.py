"""Your devices: every live session named by its browser, "This device", signing one out, and
"Sign out everywhere else" behind a fresh password."""

from __future__ import annotations

import re
from datetime import timedelta

from sessionjwt import ManualClock, SessionJWT
from tests.conftest import PASSWORD
from tests.pages.conftest import (
    FIREFOX_WINDOWS,
    BrowserFactory,
    device_ids,
    principal_of,
    signed_in,
    status_notice,
)


def device_block(page_text: str, session_id: str) -> str:
    found = re.search(
        rf'<li class="device[^"]*" data-session-id="{re.escape(session_id)}">(.*?)</li>',
        page_text,
        re.S,
    )
    assert found, page_text
    return found.group(1)


async def test_the_devices_page_names_each_session_and_marks_this_one(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    chrome = await signed_in(auth, open_browser)
    firefox = await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    mine = await principal_of(auth, chrome)
    theirs = await principal_of(auth, firefox)

    page = await chrome.get("/devices")
    assert page.status_code == 200
    assert "<title>Your devices · sessionjwt</title>" in page.text
    assert page.text.count("<h1>") == 1
    assert '<ul class="devices">' in page.text
    assert device_ids(page) == [mine.session_id, theirs.session_id]  # this device first

    own = device_block(page.text, mine.session_id)
    assert "<h2>Chrome 156 on Linux</h2>" in own
    assert "This device" in own
    assert "Sign out this device" not in own
    assert "203.0.113.7" in own
    assert re.search(r'Signed in</dt><dd><time datetime="2027-01-15T\d\d:\d\d:\d\dZ">', own)
    assert '<time datetime="' in own.split("Last active")[1]
    assert "15 Jan 2027, " in own and " UTC</time>" in own

    other = device_block(page.text, theirs.session_id)
    assert "<h2>Firefox 128 on Windows</h2>" in other
    assert "This device" not in other
    assert f'action="/devices/{theirs.session_id}/revoke"' in other
    assert ">Sign out this device</button>" in other
    assert ">Sign out everywhere else</button>" in page.text


async def test_signing_out_another_device_ends_only_that_session(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    chrome = await signed_in(auth, open_browser)
    firefox = await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    mine = await principal_of(auth, chrome)
    theirs = await principal_of(auth, firefox)

    response = await chrome.submit(f"/devices/{theirs.session_id}/revoke")
    assert response.status_code == 303
    page = await chrome.get(response.headers["location"])
    assert status_notice(page) == "Signed out Firefox 128 on Windows."
    assert device_ids(page) == [mine.session_id]
    assert await firefox.is_sent_to_sign_in()
    assert (await chrome.get("/devices")).status_code == 200


async def test_another_users_session_cannot_be_signed_out_or_named(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    alice = await signed_in(auth, open_browser)
    bob = await signed_in(auth, open_browser, "bob@example.com", user_agent=FIREFOX_WINDOWS)
    victim = await principal_of(auth, bob)
    response = await alice.submit(f"/devices/{victim.session_id}/revoke")
    assert response.status_code == 404
    assert 'role="alert"' in response.text
    assert len(await auth.list_sessions(victim.user_id)) == 1
    page = await alice.get(f"/devices?revoked={victim.session_id}")
    assert "Firefox" not in page.text


async def test_sign_out_everywhere_else_needs_a_fresh_password_and_then_works(
    auth: SessionJWT, open_browser: BrowserFactory, clock: ManualClock
) -> None:
    chrome = await signed_in(auth, open_browser)
    firefox = await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    mine = await principal_of(auth, chrome)
    clock.advance(auth.settings.fresh_auth_window.total_seconds() + 60)

    stale = await chrome.submit("/devices/revoke-others")
    assert stale.status_code == 303
    assert stale.headers["location"] == "/reauth?next=/devices"
    assert len(await auth.list_sessions(mine.user_id)) == 2  # nothing happened yet

    form = await chrome.get("/reauth?next=/devices")
    assert form.status_code == 200
    assert '<label for="password">Password</label>' in form.text
    assert ">Confirm</button>" in form.text
    wrong = await chrome.submit("/reauth", {"password": "not it", "next": "/devices"})
    assert wrong.status_code == 401
    confirmed = await chrome.submit("/reauth", {"password": PASSWORD, "next": "/devices"})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/devices"

    done = await chrome.submit("/devices/revoke-others")
    assert done.status_code == 303
    page = await chrome.get(done.headers["location"])
    assert status_notice(page) == "Signed out every other device."
    assert device_ids(page) == [mine.session_id]
    assert await firefox.is_sent_to_sign_in()


async def test_a_fresh_sign_in_may_sign_out_everywhere_else_at_once(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    chrome = await signed_in(auth, open_browser)
    await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    mine = await principal_of(auth, chrome)
    response = await chrome.submit("/devices/revoke-others")
    assert response.headers["location"] == "/devices?others=1"
    assert len(await auth.list_sessions(mine.user_id)) == 1


async def test_reauth_only_returns_to_pages_of_this_site(
    auth: SessionJWT, open_browser: BrowserFactory, clock: ManualClock
) -> None:
    chrome = await signed_in(auth, open_browser)
    clock.advance(timedelta(minutes=11).total_seconds())
    for target in ("//evil.example", "https://evil.example", "/\\evil.example"):
        response = await chrome.submit("/reauth", {"password": PASSWORD, "next": target})
        assert response.status_code == 303
        assert response.headers["location"] == "/security"
