"""/manage: admins find users, revoke their sessions, disable and enable accounts (each behind a
fresh password); everyone else gets a 403 page."""

from __future__ import annotations

import re

import pytest

from sessionjwt import ManualClock, SessionJWT
from tests.conftest import PASSWORD
from tests.pages.conftest import (
    FIREFOX_WINDOWS,
    Browser,
    BrowserFactory,
    alert,
    device_ids,
    principal_of,
    signed_in,
    status_notice,
)


def main(page: str) -> str:
    """The page's main content, without the nav's "Signed in as"."""
    return page.split('<main id="main"', 1)[1]


@pytest.fixture
async def admin(auth: SessionJWT, open_browser: BrowserFactory) -> Browser:
    return await signed_in(auth, open_browser, "root@example.com", roles=("admin",))


@pytest.fixture
async def alice(auth: SessionJWT, open_browser: BrowserFactory) -> Browser:
    return await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/manage/users"),
        ("GET", "/manage/users/{id}"),
        ("POST", "/manage/users/{id}/disable"),
        ("POST", "/manage/users/{id}/enable"),
        ("POST", "/manage/users/{id}/sessions/{sid}/revoke"),
        ("POST", "/manage/users/{id}/mfa-reset"),
    ],
)
async def test_without_the_admin_role_every_manage_page_is_a_403_page(
    auth: SessionJWT, alice: Browser, admin: Browser, method: str, path: str
) -> None:
    target = await principal_of(auth, admin)
    url = path.format(id=target.user_id, sid=target.session_id)
    response = await (alice.get(url) if method == "GET" else alice.submit(url))
    assert response.status_code == 403
    assert alert(response) == "You need the admin role to see this page."
    assert 'href="/devices"' in response.text  # still signed in: the nav stays
    assert len(await auth.list_sessions(target.user_id)) == 1
    assert (await auth.users.get(target.user_id)).disabled is False  # type: ignore[union-attr]


async def test_only_admins_see_the_admin_link(alice: Browser, admin: Browser) -> None:
    assert 'href="/manage/users"' not in (await alice.get("/devices")).text
    assert '<a href="/manage/users">Admin</a>' in (await admin.get("/devices")).text


async def test_admins_find_users_by_part_of_their_email(
    auth: SessionJWT, admin: Browser, alice: Browser
) -> None:
    await auth.register("carol_100%@example.com", PASSWORD)
    everyone = await admin.get("/manage/users")
    assert everyone.status_code == 200
    assert "<h1>Users</h1>" in everyone.text
    assert '<label for="q">Find a user by email</label>' in everyone.text
    assert ">Search</button>" in everyone.text
    assert "alice@example.com" in everyone.text and "root@example.com" in everyone.text

    found = await admin.get("/manage/users?q=ALICE")
    results = main(found.text)
    user = await auth.users.find_by_email("alice@example.com")
    assert user is not None
    assert f'<a href="/manage/users/{user.id}">alice@example.com</a>' in results
    assert "root@example.com" not in results
    assert "<td>Active</td>" in results
    # LIKE wildcards in the search are literal characters.
    literal = main((await admin.get("/manage/users?q=_100%25")).text)
    assert "carol_100%@example.com" in literal and "alice" not in literal
    assert "alice" not in main((await admin.get("/manage/users?q=%25")).text)


async def test_the_user_page_shows_status_sessions_and_audit_events(
    auth: SessionJWT, admin: Browser, alice: Browser
) -> None:
    target = await principal_of(auth, alice)
    page = await admin.get(f"/manage/users/{target.user_id}")
    assert page.status_code == 200
    assert "<h1>alice@example.com</h1>" in page.text
    assert "Active" in page.text
    assert device_ids(page) == [target.session_id]
    assert "Firefox 128 on Windows" in page.text
    assert ">Revoke</button>" in page.text
    assert ">Disable account</button>" in page.text
    assert "Audit events</h2>" in page.text
    assert "Signed in" in page.text.split("Audit events</h2>")[1]
    missing = await admin.get("/manage/users/no-such-user")
    assert missing.status_code == 404


async def test_disabling_a_user_ends_their_sessions_and_enabling_lets_them_back(
    auth: SessionJWT, admin: Browser, alice: Browser
) -> None:
    target = await principal_of(auth, alice)
    response = await admin.submit(f"/manage/users/{target.user_id}/disable")
    assert response.status_code == 303
    assert response.headers["location"] == f"/manage/users/{target.user_id}?done=disabled"
    page = await admin.get(response.headers["location"])
    assert status_notice(page) == "Account disabled. Its sessions have ended."
    assert ">Enable account</button>" in page.text
    assert re.search(r'class="status">Disabled<', page.text)
    assert await alice.is_sent_to_sign_in()
    assert await auth.list_sessions(target.user_id) == []
    refused = await alice.sign_in("alice@example.com")
    assert refused.status_code == 401

    enabled = await admin.submit(f"/manage/users/{target.user_id}/enable")
    assert enabled.headers["location"].endswith("?done=enabled")
    assert (await alice.sign_in("alice@example.com")).status_code == 303


async def test_an_admin_revokes_one_session_of_a_user(
    auth: SessionJWT, open_browser: BrowserFactory, admin: Browser, alice: Browser
) -> None:
    second = await signed_in(auth, open_browser, register=False)
    target = await principal_of(auth, alice)
    other = await principal_of(auth, second)
    response = await admin.submit(
        f"/manage/users/{target.user_id}/sessions/{target.session_id}/revoke"
    )
    assert response.status_code == 303
    assert [s.id for s in await auth.list_sessions(target.user_id)] == [other.session_id]
    # A session id of another user, under this user's URL, is not found.
    own = await principal_of(auth, admin)
    mismatched = await admin.submit(
        f"/manage/users/{target.user_id}/sessions/{own.session_id}/revoke"
    )
    assert mismatched.status_code == 404
    assert len(await auth.list_sessions(own.user_id)) == 1


async def test_admin_actions_need_a_fresh_password(
    auth: SessionJWT, admin: Browser, alice: Browser, clock: ManualClock
) -> None:
    target = await principal_of(auth, alice)
    clock.advance(auth.settings.fresh_auth_window.total_seconds() + 60)
    user_page = f"/manage/users/{target.user_id}"
    for action in ("/disable", f"/sessions/{target.session_id}/revoke"):
        response = await admin.submit(user_page + action)
        assert response.status_code == 303
        assert response.headers["location"] == f"/reauth?next={user_page}"
    assert len(await auth.list_sessions(target.user_id)) == 1
    assert (await auth.users.get(target.user_id)).disabled is False  # type: ignore[union-attr]

    confirmed = await admin.submit("/reauth", {"password": PASSWORD, "next": user_page})
    assert confirmed.headers["location"] == user_page
    done = await admin.submit(user_page + "/disable")
    assert done.headers["location"] == user_page + "?done=disabled"
