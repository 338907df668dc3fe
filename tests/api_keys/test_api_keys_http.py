"""Personal API keys over HTTP on both backends: create → use → scope refusal → delete →
refused at once; expiry, a disabled owner, typos refused without a store read, the key shown
once, and what a key may never reach."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.db.tables import audit_events
from tests.api_keys.helpers import add_scoped_routes, make_key
from tests.conftest import PASSWORD, bearer, register_and_login


async def audit_rows(auth: SessionJWT, event: str) -> list[dict[str, Any]]:
    async with auth.database.read() as connection:
        rows = await connection.execute(select(audit_events).where(audit_events.c.event == event))
        return [dict(row._mapping) for row in rows]


def error_of(response: httpx.Response) -> str:
    return str(response.json()["error"])


async def test_create_use_refuse_a_missing_scope_delete_and_refused_at_once(
    app: FastAPI, client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    add_scoped_routes(app, auth)
    alice = await register_and_login(client)
    created = await client.post(
        "/auth/api-keys",
        json={"name": "CI deploys", "scopes": ["orders:read"], "expires_in": 3600},
        headers=bearer(alice["access_token"]),
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    key = body["key"]
    assert key.startswith("sjk_") and len(key) == 74
    assert key.startswith(body["prefix"]) and body["prefix"].startswith("sjk_")
    assert body["name"] == "CI deploys" and body["scopes"] == ["orders:read"]
    assert body["id"] == key[4:36]

    me = await client.get("/auth/me", headers=bearer(key))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "alice@example.com"

    orders = await client.get("/orders", headers=bearer(key))
    assert orders.status_code == 200, orders.text
    assert orders.json() == {
        "user_id": me.json()["id"],
        "credential": "api_key",
        "scopes": ["orders:read"],
    }

    write = await client.post("/orders", headers=bearer(key))
    assert write.status_code == 403
    assert error_of(write) == "insufficient_scope"
    assert write.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="orders:write"'
    )
    # A signed-in session is full-access: scopes restrict keys.
    as_session = await client.post("/orders", headers=bearer(alice["access_token"]))
    assert as_session.status_code == 200
    assert as_session.json()["credential"] == "session"

    deleted = await client.delete(
        f"/auth/api-keys/{body['id']}", headers=bearer(alice["access_token"])
    )
    assert deleted.status_code == 204
    for _ in range(3):
        refused = await client.get("/orders", headers=bearer(key))
        assert refused.status_code == 401
        assert error_of(refused) == "session_revoked"

    assert len(await audit_rows(auth, "api_key_created")) == 1
    assert len(await audit_rows(auth, "api_key_deleted")) == 1
    # Presented three times after its deletion: one audit row (once a minute per key).
    refusals = await audit_rows(auth, "api_key_refused")
    assert [row["session_id"] for row in refusals] == [body["id"]]
    assert refusals[0]["detail"]["reason"] == "session_revoked"


async def test_the_key_is_shown_once_and_listed_apart_from_sessions(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock
) -> None:
    alice = await register_and_login(client, user_agent="Firefox on the laptop")
    token = alice["access_token"]
    made = await make_key(client, token, name="backup", scopes=["backup", "read"])
    clock.advance(120)
    assert (await client.get("/auth/me", headers=bearer(made["key"]))).status_code == 200

    listed = await client.get("/auth/api-keys", headers=bearer(token))
    assert listed.status_code == 200
    (entry,) = listed.json()
    assert entry["id"] == made["id"] and entry["name"] == "backup"
    assert entry["prefix"] == made["prefix"] and entry["scopes"] == ["backup", "read"]
    assert entry["user_agent"] == "Firefox on the laptop"
    assert entry["last_used_at"] is not None
    secret = made["key"][36:68]
    assert made["key"] not in listed.text and secret not in listed.text
    assert "hash" not in listed.text

    sessions = await client.get("/auth/sessions", headers=bearer(token))
    assert [item["id"] for item in sessions.json()] == [alice["session_id"]]


async def test_an_expired_key_is_refused_and_lifetimes_are_bounded(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    alice = await register_and_login(client)
    token = alice["access_token"]
    made = await make_key(client, token, expires_in=60)
    assert (await client.get("/auth/me", headers=bearer(made["key"]))).status_code == 200
    clock.advance(61)
    expired = await client.get("/auth/me", headers=bearer(made["key"]))
    assert expired.status_code == 401 and error_of(expired) == "session_expired"

    for bad in (0, -5):
        refused = await client.post(
            "/auth/api-keys", json={"name": "x", "expires_in": bad}, headers=bearer(token)
        )
        assert refused.status_code == 422 and error_of(refused) == "validation_error"
    too_long = int(settings.api_key_max_lifetime.total_seconds()) + 1
    refused = await client.post(
        "/auth/api-keys", json={"name": "x", "expires_in": too_long}, headers=bearer(token)
    )
    assert refused.status_code == 422 and error_of(refused) == "invalid_api_key_request"
    bad_scope = await client.post(
        "/auth/api-keys", json={"name": "x", "scopes": ['a"b']}, headers=bearer(token)
    )
    assert bad_scope.status_code == 422 and error_of(bad_scope) == "invalid_api_key_request"


async def test_a_disabled_owner_s_keys_stop_at_once(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    alice = await register_and_login(client)
    made = await make_key(client, alice["access_token"])
    me = await client.get("/auth/me", headers=bearer(made["key"]))
    assert me.status_code == 200
    await auth.set_user_disabled(me.json()["id"])
    refused = await client.get("/auth/me", headers=bearer(made["key"]))
    assert refused.status_code == 401 and error_of(refused) == "account_disabled"


async def test_a_typo_or_random_string_is_refused_without_a_store_read(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    alice = await register_and_login(client)
    key = (await make_key(client, alice["access_token"]))["key"]
    assert (await client.get("/auth/me", headers=bearer(key))).status_code == 200

    store = auth.session_store
    reads: list[str] = []
    real_load = store.load

    async def counting_load(session_id: str) -> Any:
        reads.append(session_id)
        return await real_load(session_id)

    store.load = counting_load  # type: ignore[method-assign]
    misses = auth.checker.stats.misses
    flip = {"a": "b", "b": "a"}
    candidates = [
        key[:50] + flip.get(key[50], "a") + key[51:],  # one character mistyped
        key[:-1],  # truncated paste
        key[:40] + key[41] + key[40] + key[42:],  # two characters swapped
        "sjk_" + "A" * 70,  # a random string with the prefix
    ]
    for candidate in candidates:
        if candidate == key:
            continue
        refused = await client.get("/auth/me", headers=bearer(candidate))
        assert refused.status_code == 401, candidate
        assert error_of(refused) == "invalid_token"
    assert reads == [] and auth.checker.stats.misses == misses
    assert (await client.get("/auth/me", headers=bearer(key))).status_code == 200


async def test_a_key_cannot_make_keys_or_manage_the_account(
    client: httpx.AsyncClient,
) -> None:
    alice = await register_and_login(client)
    token = alice["access_token"]
    key = (await make_key(client, token, scopes=["orders:read"]))["key"]
    headers = bearer(key)

    minted = await client.post("/auth/api-keys", json={"name": "more"}, headers=headers)
    assert minted.status_code == 403 and error_of(minted) == "insufficient_scope"
    password = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase 42"},
        headers=headers,
    )
    assert password.status_code == 403 and error_of(password) == "insufficient_scope"
    assert password.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="account"'
    )
    for method, path in [
        ("GET", "/auth/sessions"),
        ("GET", "/auth/api-keys"),
        ("POST", "/auth/logout-all"),
        ("POST", "/auth/reauthenticate"),
        ("GET", "/auth/mfa"),
    ]:
        answer = await client.request(method, path, headers=headers, json={})
        assert answer.status_code == 403, (path, answer.text)
        assert error_of(answer) == "insufficient_scope", path

    # With the account scope a key may manage the account, but still never make a key.
    admin_key = (await make_key(client, token, scopes=["account"]))["key"]
    listed = await client.get("/auth/api-keys", headers=bearer(admin_key))
    assert listed.status_code == 200 and len(listed.json()) == 2
    minted = await client.post("/auth/api-keys", json={"name": "more"}, headers=bearer(admin_key))
    assert minted.status_code == 403 and error_of(minted) == "session_required"
    # Nor is a key ever freshly authenticated, even minutes after it was made.
    fresh = await client.post(
        "/auth/logout-all", params={"keep_current": "true"}, headers=bearer(admin_key)
    )
    assert fresh.status_code == 403 and error_of(fresh) == "reauthentication_required"
    # The password was never changed: it still signs in.
    assert (await register_and_login(client, register=False))["access_token"]


async def test_creating_a_key_needs_a_fresh_sign_in(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    alice = await register_and_login(client)
    clock.advance(settings.fresh_auth_window.total_seconds() + 1)
    stale = await client.post(
        "/auth/api-keys", json={"name": "late"}, headers=bearer(alice["access_token"])
    )
    assert stale.status_code == 403 and error_of(stale) == "reauthentication_required"


async def test_signing_out_everywhere_ends_keys_and_keys_are_never_refreshed(
    client: httpx.AsyncClient,
) -> None:
    alice = await register_and_login(client)
    made = await make_key(client, alice["access_token"])
    key = made["key"]
    for attempt in (f"{made['id']}.{key[36:68]}", key, f"{made['id']}.{'A' * 43}"):
        refreshed = await client.post("/auth/refresh", json={"refresh_token": attempt})
        assert refreshed.status_code == 401, attempt
        assert error_of(refreshed) == "invalid_token"

    everywhere = await client.post("/auth/logout-all", headers=bearer(alice["access_token"]))
    assert everywhere.status_code == 204
    refused = await client.get("/auth/me", headers=bearer(key))
    assert refused.status_code == 401 and error_of(refused) == "session_revoked"


async def test_a_password_change_ends_keys_too(client: httpx.AsyncClient) -> None:
    """Conservative, as documented: whatever ends the user's other sessions ends keys."""
    alice = await register_and_login(client)
    key = (await make_key(client, alice["access_token"]))["key"]
    changed = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase 42"},
        headers=bearer(alice["access_token"]),
    )
    assert changed.status_code == 204, changed.text
    refused = await client.get("/auth/me", headers=bearer(key))
    assert refused.status_code == 401 and error_of(refused) == "session_revoked"
    assert (await client.get("/auth/me", headers=bearer(alice["access_token"]))).is_success


async def test_a_key_is_a_bearer_credential_only(client: httpx.AsyncClient) -> None:
    alice = await register_and_login(client)
    key = (await make_key(client, alice["access_token"]))["key"]
    in_query = await client.get("/auth/me", params={"access_token": key})
    assert in_query.status_code == 401 and error_of(in_query) == "missing_token"
    for name in ("__Host-sjwt-access", "sjwt-access"):  # whichever the transport reads
        client.cookies.set(name, key)
    as_cookie = await client.get("/auth/me")
    client.cookies.clear()
    assert as_cookie.status_code == 401 and error_of(as_cookie) == "invalid_token"
    deleting = await client.delete(
        "/auth/api-keys/not-a-key", headers=bearer(alice["access_token"])
    )
    assert deleting.status_code == 404 and error_of(deleting) == "api_key_not_found"
    # A session id is not a key id: DELETE /auth/api-keys does not end sessions.
    session = await client.delete(
        f"/auth/api-keys/{alice['session_id']}", headers=bearer(alice["access_token"])
    )
    assert session.status_code == 404


async def test_an_admins_key_reaches_the_admin_api_only_with_the_admin_scope(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    await auth.register("root@example.com", PASSWORD, roles=[auth.settings.admin_role])
    session = await register_and_login(client, "root@example.com", register=False)
    plain = await make_key(client, session["access_token"], name="ci", scopes=["orders:read"])
    refused = await client.get("/admin/keys", headers=bearer(plain["key"]))
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    assert 'scope="admin"' in refused.headers["www-authenticate"]
    scoped = await make_key(client, session["access_token"], name="ops", scopes=["admin"])
    assert (await client.get("/admin/keys", headers=bearer(scoped["key"]))).status_code == 200
    # The scope never lends the role: a member's "admin"-scoped key is still not an admin.
    member = await register_and_login(client, "member@example.com")
    borrowed = await make_key(client, member["access_token"], name="x", scopes=["admin"])
    denied = await client.get("/admin/keys", headers=bearer(borrowed["key"]))
    assert (denied.status_code, denied.json()["error"]) == (403, "insufficient_role")
