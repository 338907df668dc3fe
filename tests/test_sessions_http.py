"""Session management over HTTP: sign-out everywhere, the session list, revoking one device,
client addresses behind proxies, request validation, registration rules, login throttles and
disabled accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.accounts.passwords import common_passwords
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, bearer, make_settings, register_and_login

PEER = "203.0.113.7"  # the `client` fixture's peer address


@asynccontextmanager
async def connect(app: FastAPI, peer: str = PEER) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client in front of ``app``, connecting from ``peer``."""
    transport = httpx.ASGITransport(app=app, client=(peer, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@asynccontextmanager
async def serve(
    settings: Settings, clock: ManualClock
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A service of its own (for non-default settings), its app and a client in front of it."""
    async with SessionJWT(settings, clock=clock) as auth:
        app = create_app(auth=auth)
        async with connect(app) as http:
            yield app, http


async def two_devices(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    phone = await register_and_login(client, user_agent="Phone/1.0")
    laptop = await register_and_login(client, user_agent="Laptop/2.0", register=False)
    assert phone["session_id"] != laptop["session_id"]
    return phone, laptop


async def me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    return await client.get("/auth/me", headers=bearer(tokens["access_token"]))


async def refresh(client: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


async def login(
    client: httpx.AsyncClient, email: str = "alice@example.com", password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


# -- sign out everywhere ---------------------------------------------------------------------


async def test_logout_all_refuses_every_device_including_the_caller(
    client: httpx.AsyncClient,
) -> None:
    phone, laptop = await two_devices(client)
    assert (await me(client, laptop)).status_code == 200  # warm in memory before the revoke

    done = await client.post("/auth/logout-all", headers=bearer(phone["access_token"]))
    assert done.status_code == 204

    assert_error(await me(client, laptop), 401, "session_revoked")
    assert_error(await refresh(client, laptop), 401, "session_revoked")
    assert_error(await me(client, phone), 401, "session_revoked")
    assert_error(await refresh(client, phone), 401, "session_revoked")
    # A new login afterwards is a new session and works.
    again = await register_and_login(client, register=False)
    assert (await me(client, again)).status_code == 200


async def test_logout_all_keep_current_spares_only_the_callers_session(
    client: httpx.AsyncClient,
) -> None:
    phone, laptop = await two_devices(client)
    assert (await me(client, laptop)).status_code == 200

    done = await client.post(
        "/auth/logout-all", params={"keep_current": "true"}, headers=bearer(phone["access_token"])
    )
    assert done.status_code == 204

    assert (await me(client, phone)).status_code == 200
    rotated = await refresh(client, phone)
    assert rotated.status_code == 200, rotated.text
    assert (await me(client, rotated.json())).status_code == 200
    assert_error(await me(client, laptop), 401, "session_revoked")
    assert_error(await refresh(client, laptop), 401, "session_revoked")


async def test_logout_all_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/auth/logout-all"), 401, "missing_token")


# -- the session list --------------------------------------------------------------------------


async def test_sessions_list_shows_each_device_and_marks_only_the_caller_current(
    client: httpx.AsyncClient,
) -> None:
    phone, laptop = await two_devices(client)
    await register_and_login(client, "bob@example.com", user_agent="Bob/1.0")

    listed = await client.get("/auth/sessions", headers=bearer(phone["access_token"]))
    assert listed.status_code == 200
    by_id = {item["id"]: item for item in listed.json()}
    assert set(by_id) == {phone["session_id"], laptop["session_id"]}  # not bob's
    assert by_id[phone["session_id"]]["user_agent"] == "Phone/1.0"
    assert by_id[laptop["session_id"]]["user_agent"] == "Laptop/2.0"
    assert {item["ip"] for item in by_id.values()} == {PEER}
    assert by_id[phone["session_id"]]["current"] is True
    assert by_id[laptop["session_id"]]["current"] is False

    from_laptop = await client.get("/auth/sessions", headers=bearer(laptop["access_token"]))
    current = {item["id"]: item["current"] for item in from_laptop.json()}
    assert current == {phone["session_id"]: False, laptop["session_id"]: True}


async def test_revoked_sessions_disappear_from_the_list(client: httpx.AsyncClient) -> None:
    phone, laptop = await two_devices(client)
    assert (await client.post("/auth/logout", headers=bearer(laptop["access_token"]))).is_success
    listed = await client.get("/auth/sessions", headers=bearer(phone["access_token"]))
    assert [item["id"] for item in listed.json()] == [phone["session_id"]]

    third = await register_and_login(client, user_agent="Tablet/3.0", register=False)
    kept = await client.post(
        "/auth/logout-all", params={"keep_current": "true"}, headers=bearer(third["access_token"])
    )
    assert kept.status_code == 204
    listed = await client.get("/auth/sessions", headers=bearer(third["access_token"]))
    assert [item["id"] for item in listed.json()] == [third["session_id"]]


# -- client addresses behind proxies ------------------------------------------------------------


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(client: httpx.AsyncClient) -> None:
    await register_and_login(client)
    spoofed = await client.post(
        "/auth/login",
        json={"email": "alice@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.9"},
    )
    assert spoofed.status_code == 200
    listed = await client.get("/auth/sessions", headers=bearer(spoofed.json()["access_token"]))
    assert {item["ip"] for item in listed.json()} == {PEER}


async def test_forwarded_for_is_believed_from_a_trusted_proxy(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, **backend, trusted_proxies=["203.0.113.0/24"])
    async with serve(settings, clock) as (_, http):
        await register_and_login(http)
        # The left-most hop is whatever the client claimed; the right-most untrusted one is
        # the address the trusted proxy actually saw.
        behind_proxy = await http.post(
            "/auth/login",
            json={"email": "alice@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.66, 198.51.100.9, 203.0.113.20"},
        )
        assert behind_proxy.status_code == 200
        token = behind_proxy.json()
        listed = await http.get("/auth/sessions", headers=bearer(token["access_token"]))
        ips = {item["id"]: item["ip"] for item in listed.json()}
        assert ips[token["session_id"]] == "198.51.100.9"
        assert sorted(ips.values()) == sorted([PEER, "198.51.100.9"])


@pytest.mark.parametrize(
    ("forwarded_for", "recorded"),
    [
        ("198.51.100.9", "198.51.100.9"),
        ("203.0.113.20, 203.0.113.21", "203.0.113.20"),  # every hop trusted: the first one
        ("198.51.100.9, not-an-ip", PEER),  # garbage: fall back to the peer we saw
        ("", PEER),
    ],
)
async def test_forwarded_for_edge_cases_behind_a_trusted_proxy(
    tmp_path: Path, clock: ManualClock, forwarded_for: str, recorded: str
) -> None:
    settings = make_settings(tmp_path, trusted_proxies=["203.0.113.0/24"])
    async with serve(settings, clock) as (_, http):
        await http.post("/auth/register", json={"email": "alice@example.com", "password": PASSWORD})
        response = await http.post(
            "/auth/login",
            json={"email": "alice@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": forwarded_for},
        )
        token = response.json()
        listed = await http.get("/auth/sessions", headers=bearer(token["access_token"]))
        assert [item["ip"] for item in listed.json()] == [recorded]


# -- revoking one session ------------------------------------------------------------------------


async def test_delete_own_other_session_refuses_that_device_only(
    client: httpx.AsyncClient,
) -> None:
    phone, laptop = await two_devices(client)
    assert (await me(client, laptop)).status_code == 200
    deleted = await client.delete(
        f"/auth/sessions/{laptop['session_id']}", headers=bearer(phone["access_token"])
    )
    assert deleted.status_code == 204
    assert_error(await me(client, laptop), 401, "session_revoked")
    assert_error(await refresh(client, laptop), 401, "session_revoked")
    assert (await me(client, phone)).status_code == 200


async def test_delete_another_users_session_is_not_found_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    alice = await register_and_login(client)
    bob = await register_and_login(client, "bob@example.com")
    attempt = await client.delete(
        f"/auth/sessions/{bob['session_id']}", headers=bearer(alice["access_token"])
    )
    assert_error(attempt, 404, "session_not_found")
    assert (await me(client, bob)).status_code == 200
    assert (await refresh(client, bob)).status_code == 200
    listed = await client.get("/auth/sessions", headers=bearer(alice["access_token"]))
    assert [item["id"] for item in listed.json()] == [alice["session_id"]]


async def test_delete_own_current_session_signs_out_the_caller(client: httpx.AsyncClient) -> None:
    phone, laptop = await two_devices(client)
    deleted = await client.delete(
        f"/auth/sessions/{phone['session_id']}", headers=bearer(phone["access_token"])
    )
    assert deleted.status_code == 204
    assert_error(await me(client, phone), 401, "session_revoked")
    assert (await me(client, laptop)).status_code == 200


async def test_delete_a_nonexistent_session_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await register_and_login(client)
    attempt = await client.delete(
        "/auth/sessions/" + "A" * 32, headers=bearer(alice["access_token"])
    )
    assert_error(attempt, 404, "session_not_found")
    assert (await me(client, alice)).status_code == 200


async def test_delete_session_needs_a_token(client: httpx.AsyncClient) -> None:
    alice = await register_and_login(client)
    attempt = await client.delete(f"/auth/sessions/{alice['session_id']}")
    assert_error(attempt, 401, "missing_token")
    assert (await me(client, alice)).status_code == 200


# -- request validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "alice@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "alice@example.com", "password": PASSWORD, "remember_me": True}, "remember_me"),
        ({"email": "alice@example.com", "password": ""}, "password"),
        ({"email": "alice@example.com", "password": 12345678}, "password"),
    ],
)
async def test_login_validation_errors_name_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/auth/login", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["error"] == "validation_error"
    assert [item["field"] for item in payload["fields"]] == [field]
    assert field in payload["message"]


async def test_login_with_a_non_json_body_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/login", content=b"email=alice&password=x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert [item["field"] for item in response.json()["fields"]] == ["body"]

    empty = await client.post("/auth/login", headers={"Content-Type": "application/json"})
    assert empty.status_code == 422
    assert [item["field"] for item in empty.json()["fields"]] == ["body"]


async def test_malformed_json_is_reported_against_the_body_not_a_character_offset(
    client: httpx.AsyncClient,
) -> None:
    broken = await client.post(
        "/auth/login", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["error"] == "validation_error"
    assert [item["field"] for item in broken.json()["fields"]] == ["body"]


# -- registration ------------------------------------------------------------------------------


async def test_duplicate_email_differing_only_in_case_and_spaces_is_taken(
    client: httpx.AsyncClient,
) -> None:
    await register_and_login(client, "alice@example.com")
    for variant in ("ALICE@example.com", "  Alice@Example.COM  "):
        again = await client.post(
            "/auth/register", json={"email": variant, "password": PASSWORD + "!"}
        )
        assert_error(again, 409, "email_taken")
    # The original password still logs in: the duplicate changed nothing.
    assert (await login(client)).status_code == 200
    assert (await login(client, "  ALICE@EXAMPLE.com ")).status_code == 200


@pytest.mark.parametrize("password", ["password123", "Password123", "1234567"])
async def test_weak_passwords_are_refused(client: httpx.AsyncClient, password: str) -> None:
    if len(password) >= 8:
        assert password.casefold() in common_passwords()
    response = await client.post(
        "/auth/register", json={"email": "alice@example.com", "password": password}
    )
    assert_error(response, 422, "weak_password")
    # Nothing was created: the same email can register with a good password.
    created = await client.post(
        "/auth/register", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert created.status_code == 201


@pytest.mark.parametrize("length", [8, 64, 200])
async def test_long_passwords_are_accepted_and_not_truncated(
    client: httpx.AsyncClient, length: int
) -> None:
    password = ("Tr0ub4dor&3-horse-" * 20)[:length]
    assert len(password) == length
    await register_and_login(client, password=password)
    assert_error(await login(client, password=password[:-1]), 401, "invalid_credentials")
    if length > 72:
        assert_error(await login(client, password=password[:72]), 401, "invalid_credentials")
    assert (await login(client, password=password)).status_code == 200


@pytest.mark.parametrize("email", ["not-an-email", "alice@", "@example.com", "alice@exa mple.com"])
async def test_invalid_email_is_refused(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert_error(response, 422, "invalid_email")


# -- login throttles -----------------------------------------------------------------------------


def retry_after(response: httpx.Response) -> int:
    value = response.headers["Retry-After"]
    assert value.isdigit(), value
    return int(value)


async def test_failed_logins_hold_back_that_address_even_for_the_right_password(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    # Past the per-account ceiling, the failing address waits the full cap; addresses that
    # have not failed are not held back (no lockout of the real user: tests/test_login_backoff).
    settings = make_settings(tmp_path, **backend, login_failures_per_account="3/minute")
    async with serve(settings, clock) as (app, http):
        await register_and_login(http)  # one success: successes are not counted
        await register_and_login(http, "bob@example.com")
        for _ in range(3):
            assert_error(await login(http, password="wrong password!"), 401, "invalid_credentials")

        locked = await login(http)
        assert_error(locked, 429, "rate_limited")
        assert retry_after(locked) == settings.login_backoff_cap.total_seconds()
        # The same account spelled differently is the same account.
        assert_error(await login(http, email=" ALICE@example.com"), 429, "rate_limited")
        # Another account from the same address is not affected.
        assert (await login(http, email="bob@example.com")).status_code == 200
        # The real user elsewhere is not locked out.
        async with connect(app, "198.51.100.60") as elsewhere:
            assert (await login(elsewhere)).status_code == 200


async def test_failed_logins_lock_the_account_whatever_the_unicode_spelling(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, **backend, login_failures_per_account="3/minute")
    async with serve(settings, clock) as (_, http):
        await register_and_login(http)
        for _ in range(3):
            assert_error(await login(http, password="wrong password!"), 401, "invalid_credentials")
        assert_error(await login(http), 429, "rate_limited")

        variant = "\uff41lice@example.com"  # fullwidth "a": the same account after NFKC
        assert_error(
            await login(http, email=variant, password="wrong password!"), 429, "rate_limited"
        )
        assert_error(await login(http, email=variant), 429, "rate_limited")


async def test_logins_from_one_address_are_limited(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, **backend, login_rate_limit_ip="2/minute")
    async with serve(settings, clock) as (app, http):
        await http.post("/auth/register", json={"email": "alice@example.com", "password": PASSWORD})
        await http.post("/auth/register", json={"email": "bob@example.com", "password": PASSWORD})
        assert (await login(http)).status_code == 200
        assert_error(await login(http, password="wrong password!"), 401, "invalid_credentials")

        limited = await login(http, email="bob@example.com")
        assert_error(limited, 429, "rate_limited")
        assert retry_after(limited) >= 1
        async with connect(app, "198.51.100.50") as elsewhere:
            assert (await login(elsewhere, email="bob@example.com")).status_code == 200


# -- disabled accounts --------------------------------------------------------------------------


async def test_disabled_account_is_refused_at_once_and_cannot_log_in(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    tokens = await register_and_login(client)
    bob = await register_and_login(client, "bob@example.com")
    user_id = (await me(client, tokens)).json()["id"]

    await auth.set_user_disabled(user_id)

    assert_error(await me(client, tokens), 401, "account_disabled")
    assert_error(await refresh(client, tokens), 401, "account_disabled")
    # Its tokens say why (they prove possession); a password, right or wrong, says nothing
    # (tests/attacks/test_disabled_oracle.py).
    assert_error(await login(client), 401, "invalid_credentials")
    assert_error(await login(client, password="wrong password!"), 401, "invalid_credentials")
    assert (await me(client, bob)).status_code == 200


async def test_re_enabling_an_account_does_not_resurrect_its_old_sessions(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    tokens = await register_and_login(client)
    user_id = (await me(client, tokens)).json()["id"]
    await auth.set_user_disabled(user_id)
    await auth.set_user_disabled(user_id, disabled=False)

    assert_error(await me(client, tokens), 401, "session_revoked")
    assert_error(await refresh(client, tokens), 401, "session_revoked")
    fresh = await register_and_login(client, register=False)
    assert (await me(client, fresh)).status_code == 200
