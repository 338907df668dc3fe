"""The "API keys" page and the administrator's view of a user's keys: a key made on the page is
shown once (never again, never in a URL), works at once, and a revoke from either page is
refused on the next request. The admin API lists and revokes any user's keys over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT
from tests.conftest import bearer
from tests.pages.conftest import (
    Browser,
    BrowserFactory,
    alert,
    assert_security_headers,
    principal_of,
    signed_in,
    status_notice,
)

KEY = re.compile(r'<code id="created-key">(sjk_[0-9A-Za-z]+)</code>')


@pytest.fixture
async def alice(auth: SessionJWT, open_browser: BrowserFactory) -> Browser:
    return await signed_in(auth, open_browser)


@pytest.fixture
async def admin(auth: SessionJWT, open_browser: BrowserFactory) -> Browser:
    return await signed_in(auth, open_browser, "root@example.com", roles=("admin",))


async def make_key(browser: Browser, name: str = "nightly backup", scopes: str = "backup") -> str:
    made = await browser.submit(
        "/api-keys", {"name": name, "scopes": scopes, "expires_in": str(30 * 86_400)}
    )
    assert made.status_code == 201, made.text
    found = KEY.search(made.text)
    assert found, made.text
    return found.group(1)


def key_ids(page: httpx.Response) -> list[str]:
    return re.findall(r'<li class="device api-key" data-key-id="([^"]+)"', page.text)


async def test_a_key_made_on_the_page_is_shown_once_and_works(
    alice: Browser, client: httpx.AsyncClient
) -> None:
    empty = await alice.get("/api-keys")
    assert empty.status_code == 200 and "You have no API keys." in empty.text
    assert '<a href="/api-keys" aria-current="page">API keys</a>' in empty.text

    made = await alice.submit(
        "/api-keys",
        {"name": "nightly backup", "scopes": "backup reports:read", "expires_in": "604800"},
    )
    assert made.status_code == 201
    assert_security_headers(made)  # no-store: the key is in this one answer only
    key = KEY.search(made.text)
    assert key, made.text
    assert 'data-copy="created-key"' in made.text and "copy.js" in made.text
    me = await client.get("/auth/me", headers=bearer(key.group(1)))
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"

    again = await alice.get("/api-keys")
    assert key.group(1) not in again.text
    assert key.group(1)[36:] not in again.text, "not even the secret half"
    assert "nightly backup" in again.text and "backup reports:read" in again.text
    assert f"<code>{key.group(1)[:12]}" in again.text  # the prefix its owner recognises
    assert len(key_ids(again)) == 1


async def test_making_a_key_needs_a_fresh_proof(
    alice: Browser, auth: SessionJWT, clock: ManualClock
) -> None:
    clock.advance(auth.settings.fresh_auth_window.total_seconds() + 60)
    stale = await alice.submit("/api-keys", {"name": "late", "expires_in": "604800"})
    assert stale.status_code == 303
    assert stale.headers["location"] == "/reauth?next=/api-keys"
    assert key_ids(await alice.get("/api-keys")) == []


async def test_a_form_without_its_csrf_token_makes_nothing(alice: Browser) -> None:
    refused = await alice.submit("/api-keys", {"name": "forged", "expires_in": "604800"}, csrf=None)
    assert refused.status_code == 403
    assert key_ids(await alice.get("/api-keys")) == []


async def test_bad_scopes_get_the_rule_and_no_key(alice: Browser) -> None:
    refused = await alice.submit(
        "/api-keys", {"name": "typo", "scopes": 'orders"read', "expires_in": "604800"}
    )
    assert refused.status_code == 422
    assert "scope-tokens" in alert(refused)
    assert key_ids(refused) == []


async def test_revoking_on_the_page_is_refused_on_the_next_request(
    alice: Browser, client: httpx.AsyncClient
) -> None:
    key = await make_key(alice)
    key_id = key_ids(await alice.get("/api-keys"))[0]
    revoked = await alice.submit(f"/api-keys/{key_id}/revoke")
    assert revoked.status_code == 303
    landed = await alice.get(revoked.headers["location"])
    assert status_notice(landed) == "API key revoked."
    assert key_ids(landed) == []
    refused = await client.get("/auth/me", headers=bearer(key))
    assert (refused.status_code, refused.json()["error"]) == (401, "session_revoked")


async def test_another_users_key_is_not_found_and_stays(
    auth: SessionJWT, alice: Browser, open_browser: BrowserFactory, client: httpx.AsyncClient
) -> None:
    bob = await signed_in(auth, open_browser, "bob@example.com")
    bobs_key = await make_key(bob)
    bobs_id = key_ids(await bob.get("/api-keys"))[0]
    attempt = await alice.submit(f"/api-keys/{bobs_id}/revoke")
    assert attempt.status_code == 404
    assert (await client.get("/auth/me", headers=bearer(bobs_key))).status_code == 200


async def test_a_key_cannot_open_the_keys_page_without_the_account_scope(
    alice: Browser, client: httpx.AsyncClient
) -> None:
    plain = await make_key(alice, "plain", "backup")
    refused = await client.get("/api-keys", headers=bearer(plain))
    assert refused.status_code == 403
    managing = await make_key(alice, "manager", "account")
    listed = await client.get("/api-keys", headers=bearer(managing))
    assert listed.status_code == 200 and "plain" in listed.text
    # Even with 'account', a key makes no key (a leaked key must not outlive its deletion).
    csrf = await alice.csrf()
    client.cookies.set("__Host-sjwt-csrf", csrf)
    made = await client.post(
        "/api-keys",
        data={"name": "child", "expires_in": "604800", "csrf_token": csrf},
        headers={**bearer(managing), "Origin": "https://testserver"},
    )
    assert made.status_code == 403


async def test_an_admin_sees_and_revokes_a_users_keys_on_the_page(
    auth: SessionJWT, alice: Browser, admin: Browser, client: httpx.AsyncClient
) -> None:
    key = await make_key(alice)
    user = await principal_of(auth, alice)
    page = await admin.get(f"/manage/users/{user.user_id}")
    assert "nightly backup" in page.text and key not in page.text
    key_id = key_ids(page)[0]
    revoked = await admin.submit(f"/manage/users/{user.user_id}/api-keys/{key_id}/revoke")
    assert revoked.status_code == 303
    landed = await admin.get(revoked.headers["location"])
    assert status_notice(landed) == "API key revoked: it is refused from its next request."
    refused = await client.get("/auth/me", headers=bearer(key))
    assert refused.status_code == 401


async def test_the_admin_api_lists_and_revokes_a_users_keys(
    auth: SessionJWT, alice: Browser, admin: Browser, client: httpx.AsyncClient
) -> None:
    key = await make_key(alice)
    user = await principal_of(auth, alice)
    assert admin.access_token and alice.access_token
    root = bearer(admin.access_token)

    listed = await client.get(f"/admin/users/{user.user_id}/api-keys", headers=root)
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()
    assert entry["name"] == "nightly backup" and entry["scopes"] == ["backup"]
    assert key not in listed.text and "hash" not in listed.text

    not_admin = await client.get(
        f"/admin/users/{user.user_id}/api-keys", headers=bearer(alice.access_token)
    )
    assert (not_admin.status_code, not_admin.json()["error"]) == (403, "insufficient_role")
    missing = await client.get("/admin/users/nobody/api-keys", headers=root)
    assert (missing.status_code, missing.json()["error"]) == (404, "user_not_found")

    deleted = await client.delete(
        f"/admin/users/{user.user_id}/api-keys/{entry['id']}", headers=root
    )
    assert deleted.status_code == 204
    refused = await client.get("/auth/me", headers=bearer(key))
    assert (refused.status_code, refused.json()["error"]) == (401, "session_revoked")
    again = await client.delete(f"/admin/users/{user.user_id}/api-keys/{entry['id']}", headers=root)
    assert again.status_code == 204, "idempotent: already revoked"
    wrong_user = await client.delete(f"/admin/users/nobody/api-keys/{entry['id']}", headers=root)
    assert (wrong_user.status_code, wrong_user.json()["error"]) == (404, "api_key_not_found")
