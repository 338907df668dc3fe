"""Security page: change the password (signs out the other devices), recent security events."""

from __future__ import annotations

import re

from sessionjwt import SessionJWT
from tests.conftest import PASSWORD
from tests.pages.conftest import (
    FIREFOX_WINDOWS,
    BrowserFactory,
    alert,
    principal_of,
    signed_in,
    status_notice,
)

NEW_PASSWORD = "a brand new passphrase 42"


async def test_changing_the_password_signs_out_the_other_devices(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    chrome = await signed_in(auth, open_browser)
    firefox = await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    mine = await principal_of(auth, chrome)

    page = await chrome.get("/security")
    assert page.status_code == 200
    assert '<label for="current_password">Current password</label>' in page.text
    assert '<label for="new_password">New password</label>' in page.text
    assert ">Change password</button>" in page.text

    response = await chrome.submit(
        "/security/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/security?changed=1"
    changed = await chrome.get("/security?changed=1")
    assert status_notice(changed) == "Password changed. Your other devices were signed out."
    assert [s.id for s in await auth.list_sessions(mine.user_id)] == [mine.session_id]
    assert await firefox.is_sent_to_sign_in()
    await auth.authenticate("alice@example.com", NEW_PASSWORD)


async def test_a_wrong_current_password_changes_nothing(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    chrome = await signed_in(auth, open_browser)
    await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    mine = await principal_of(auth, chrome)
    response = await chrome.submit(
        "/security/password", {"current_password": "not it", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 401
    assert alert(response) == "The current password is incorrect."
    assert len(await auth.list_sessions(mine.user_id)) == 2
    await auth.authenticate("alice@example.com", PASSWORD)

    weak = await chrome.submit(
        "/security/password", {"current_password": PASSWORD, "new_password": "short"}
    )
    assert weak.status_code == 422
    assert "at least" in alert(weak)
    assert len(await auth.list_sessions(mine.user_id)) == 2


async def test_recent_security_events_list_what_when_where_and_which_device(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    chrome = await signed_in(auth, open_browser)
    failed = await chrome.sign_in("alice@example.com", "a wrong guess")
    assert failed.status_code == 401
    page = await chrome.get("/security")
    assert "<h2" in page.text and "Recent security events</h2>" in page.text
    table = page.text.split("Recent security events</h2>")[1]
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", table, re.S)
    what = [row[0].strip() for row in rows]
    assert what[:3] == ["Failed sign-in attempt", "Signed in", "Account created"]
    assert '<time datetime="' in rows[0][1]
    assert rows[0][2] == "203.0.113.7"
    assert "Chrome 156 on Linux" in table


async def test_other_users_events_are_not_shown(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    await signed_in(auth, open_browser, "bob@example.com", user_agent=FIREFOX_WINDOWS)
    alice = await signed_in(auth, open_browser)
    page = await alice.get("/security")
    assert "Firefox" not in page.text
