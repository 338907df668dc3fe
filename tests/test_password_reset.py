"""Password change and password reset by email, over HTTP, with a real SMTP server.

The reset mail goes to an aiosmtpd server on 127.0.0.1 and is read back from it; the link in
it is what the tests use, exactly as a person would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.audit.query import AuditFilter
from sessionjwt.db.tables import audit_events
from tests.conftest import PASSWORD, bearer, make_settings, register_and_login
from tests.leaks import SecretBag, every_log_line
from tests.mail import Inbox as Inbox  # re-exported: tests/pages/test_reset.py imports it here
from tests.mail import smtp_server, smtp_settings

NEW_PASSWORD = "a brand new passphrase 42"
RESET_URL = "https://app.example.test/reset?token={token}"
TOKEN_IN_LINK = re.compile(r"https://app\.example\.test/reset\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(TOKEN_IN_LINK)
    with smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object], smtp: tuple[Inbox, int]) -> Settings:
    return make_settings(
        tmp_path,
        **backend,
        **smtp_settings(smtp[1]),
        password_reset_url=RESET_URL,
    )


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


async def mail_sent(auth: SessionJWT) -> None:
    """A reset request's work (look-up, rows, mail) runs after the answer: wait until it is
    done and the SMTP server has the mail."""
    await auth.components.after_answer.drain()


async def request_reset(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post("/auth/password-reset", json={"email": address})


async def confirm(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": password}
    )


async def login_status(client: httpx.AsyncClient, password: str) -> int:
    response = await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": password}
    )
    return response.status_code


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


# -- reset by email ----------------------------------------------------------------------


async def test_the_mailed_link_resets_the_password_once_and_ends_every_session(
    client: httpx.AsyncClient, auth: SessionJWT, inbox: Inbox
) -> None:
    laptop = await register_and_login(client)
    phone = await register_and_login(client, register=False, user_agent="phone/1.0")

    accepted = await request_reset(client, "Alice@Example.com")
    assert accepted.status_code == 202
    await mail_sent(auth)
    [(recipients, message)] = inbox.messages
    assert recipients == ["alice@example.com"]
    assert message["From"] == "accounts@example.test"
    token = inbox.token_for("alice@example.com")

    assert (await confirm(client, token, NEW_PASSWORD)).status_code == 204
    for device in (laptop, phone):
        me = await client.get("/auth/me", headers=bearer(device["access_token"]))
        assert me.status_code == 401
        again = await client.post("/auth/refresh", json={"refresh_token": device["refresh_token"]})
        assert again.status_code == 401
    assert await login_status(client, PASSWORD) == 401
    assert await login_status(client, NEW_PASSWORD) == 200

    assert_error(await confirm(client, token, "yet another passphrase"), 400, "invalid_reset_token")
    assert await login_status(client, NEW_PASSWORD) == 200


async def test_an_unknown_email_gets_the_same_answer_and_no_mail(
    client: httpx.AsyncClient, auth: SessionJWT, inbox: Inbox
) -> None:
    await register_and_login(client)
    known = await request_reset(client, "alice@example.com")
    unknown = await request_reset(client, "nobody@example.com")
    malformed = await request_reset(client, "not an address")
    await mail_sent(auth)
    assert known.status_code == unknown.status_code == malformed.status_code == 202
    assert known.json() == unknown.json() == malformed.json()
    assert [to for to, _ in inbox.messages] == [["alice@example.com"]]


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, auth: SessionJWT, inbox: Inbox, clock: ManualClock
) -> None:
    await register_and_login(client)
    await request_reset(client, "alice@example.com")
    await mail_sent(auth)
    clock.advance(auth.settings.password_reset_ttl.total_seconds() + 1)
    assert_error(
        await confirm(client, inbox.token_for("alice@example.com"), NEW_PASSWORD),
        400,
        "invalid_reset_token",
    )
    assert await login_status(client, PASSWORD) == 200


async def test_unknown_and_superseded_tokens_are_refused_alike(
    client: httpx.AsyncClient, auth: SessionJWT, inbox: Inbox
) -> None:
    await register_and_login(client)
    await request_reset(client, "alice@example.com")
    await mail_sent(auth)
    first = inbox.token_for("alice@example.com")
    await request_reset(client, "alice@example.com")
    await mail_sent(auth)
    second = inbox.token_for("alice@example.com")
    assert first != second

    superseded = await confirm(client, first, NEW_PASSWORD)
    unknown = await confirm(client, "A" * 43, NEW_PASSWORD)
    assert_error(superseded, 400, "invalid_reset_token")
    assert superseded.json() == unknown.json()
    assert (await confirm(client, second, NEW_PASSWORD)).status_code == 204


async def test_a_weak_new_password_is_refused_and_the_token_still_works(
    client: httpx.AsyncClient, auth: SessionJWT, inbox: Inbox
) -> None:
    await register_and_login(client)
    await request_reset(client, "alice@example.com")
    await mail_sent(auth)
    token = inbox.token_for("alice@example.com")
    assert_error(await confirm(client, token, "password"), 422, "weak_password")
    assert (await confirm(client, token, NEW_PASSWORD)).status_code == 204


async def test_reset_requests_are_throttled_per_email(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    limit = int(auth.settings.password_reset_rate_limit_email.split("/")[0])
    for _ in range(limit):
        assert (await request_reset(client, "nobody@example.com")).status_code == 202
    assert_error(await request_reset(client, "NOBODY@example.com"), 429, "rate_limited")
    await mail_sent(auth)


async def test_the_reset_token_never_reaches_a_log_line_or_an_audit_row(
    client: httpx.AsyncClient, auth: SessionJWT, inbox: Inbox
) -> None:
    bag = SecretBag()
    bag.add("password", PASSWORD)
    bag.add("new password", NEW_PASSWORD)
    with every_log_line() as lines:
        await register_and_login(client)
        await request_reset(client, "alice@example.com")
        await mail_sent(auth)
        token = inbox.token_for("alice@example.com")
        bag.add("reset token", token)
        assert (await confirm(client, token, NEW_PASSWORD)).status_code == 204
        await confirm(client, token, NEW_PASSWORD)
    async with auth.database.read() as connection:
        rows = [dict(row._mapping) for row in await connection.execute(select(audit_events))]
    assert {"password_reset_requested", "password_reset"} <= {row["event"] for row in rows}
    sinks = {
        "log lines": "\n".join(lines),
        "audit rows": "\n".join(json.dumps(row, default=str) for row in rows),
    }
    assert bag.leaks(sinks) == []


async def test_without_smtp_a_reset_request_warns_and_sends_nothing(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with SessionJWT(make_settings(tmp_path), clock=clock) as auth:
        await auth.register("alice@example.com", PASSWORD)
        with caplog.at_level("WARNING", logger="sessionjwt"):
            await auth.request_password_reset("alice@example.com")
            await mail_sent(auth)
        page = await auth.audit_events(AuditFilter.parse(event="password_reset_requested"))
        assert len(page.events) == 1  # the request is on the trail, though no mail went
    assert "SESSIONJWT_SMTP_HOST" in caplog.text


async def test_a_reset_request_that_fails_after_the_answer_is_logged_without_the_address(
    client: httpx.AsyncClient,
    auth: SessionJWT,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register_and_login(client)

    async def store_fails(*_args: object) -> None:
        raise RuntimeError("alice@example.com: the store is gone")  # an echoing driver error

    monkeypatch.setattr(auth.components.reset_tokens, "store", store_fails)
    with caplog.at_level("ERROR", logger="sessionjwt"):
        assert (await request_reset(client, "alice@example.com")).status_code == 202
        await mail_sent(auth)
    assert "password-reset request failed in the background: RuntimeError" in caplog.text
    assert "alice@example.com" not in caplog.text
    assert inbox.messages == []


# -- change password (signed in) -----------------------------------------------------------


async def change(
    client: httpx.AsyncClient, tokens: dict[str, Any], current: str, new: str
) -> httpx.Response:
    return await client.post(
        "/auth/password",
        json={"current_password": current, "new_password": new},
        headers=bearer(tokens["access_token"]),
    )


async def test_changing_the_password_signs_out_the_other_devices_but_not_the_caller(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    laptop = await register_and_login(client)
    phone = await register_and_login(client, register=False, user_agent="phone/1.0")

    assert (await change(client, laptop, PASSWORD, NEW_PASSWORD)).status_code == 204
    assert (await client.get("/auth/me", headers=bearer(laptop["access_token"]))).is_success
    refreshed = await client.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert refreshed.status_code == 200
    assert (await client.get("/auth/me", headers=bearer(phone["access_token"]))).status_code == 401
    stale = await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert stale.status_code == 401
    assert await login_status(client, PASSWORD) == 401
    assert await login_status(client, NEW_PASSWORD) == 200
    alice = await auth.users.find_by_email("alice@example.com")
    assert alice is not None
    page = await auth.audit_events(AuditFilter.parse(event="password_changed"))
    assert [event.user_id for event in page.events] == [alice.id]


async def test_a_wrong_current_password_or_a_weak_new_one_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    laptop = await register_and_login(client)
    phone = await register_and_login(client, register=False, user_agent="phone/1.0")
    assert_error(
        await change(client, laptop, "not the password!", NEW_PASSWORD), 401, "invalid_credentials"
    )
    assert_error(await change(client, laptop, PASSWORD, "password"), 422, "weak_password")
    assert_error(await change(client, laptop, PASSWORD, "alice@example.com"), 422, "weak_password")
    assert (await client.get("/auth/me", headers=bearer(phone["access_token"]))).is_success
    assert await login_status(client, PASSWORD) == 200


async def test_changing_the_password_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert_error(response, 401, "missing_token")


async def test_wrong_current_passwords_are_throttled_like_login_failures(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    laptop = await register_and_login(client)
    statuses = [
        (await change(client, laptop, "not the password!", NEW_PASSWORD)).status_code
        for _ in range(auth.settings.login_backoff_free_failures + 1)
    ]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}
    # Now delayed even with the right password, as a login would be.
    assert_error(await change(client, laptop, PASSWORD, NEW_PASSWORD), 429, "rate_limited")
