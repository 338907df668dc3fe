"""A disabled account must not confirm a guessed password (issue 18, item 2).

The guesser tries a password on a disabled account: answered ``account_disabled`` it would
learn the password is right (and try it elsewhere). So a password sign-in answers a disabled
account exactly like a wrong password — same status, body, headers, throttling and argon2
work — on the API and on the sign-in page. The owner is told by mail, once a day at most,
and the audit trail records ``login_refused_disabled``. Only proof of possession (a token of
an existing session) still hears ``account_disabled``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.audit.query import AuditFilter
from sessionjwt.audit.trail import AuditEventType
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, bearer, make_settings, register_and_login
from tests.mail import Inbox, smtp_server, smtp_settings
from tests.pages.conftest import ORIGIN, Browser

WRONG = "not the password at all"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(link=re.compile(r"(?!)"))  # these mails carry no link
    with smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object], smtp: tuple[Inbox, int]) -> Settings:
    return make_settings(tmp_path, **backend, **smtp_settings(smtp[1]))


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


async def mails_sent(auth: SessionJWT) -> None:
    """Mails go out after the answer: wait for the ones under way."""
    under_way = list(auth.components.outbox.under_way)
    if under_way:
        await asyncio.wait(under_way)


async def disabled_alice(client: httpx.AsyncClient, auth: SessionJWT) -> dict[str, str]:
    """Alice signed in once (her tokens), then an administrator disabled her."""
    tokens = await register_and_login(client, "alice@example.com")
    me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    await auth.set_user_disabled(me.json()["id"])
    return {"user_id": me.json()["id"], **tokens}


def answer(response: httpx.Response) -> tuple[int, str, str | None, str | None]:
    """Everything a guesser can compare, cookies included."""
    return (
        response.status_code,
        response.text,
        response.headers.get("www-authenticate"),
        response.headers.get("set-cookie"),
    )


async def login(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": password}
    )


async def test_the_right_and_a_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    await disabled_alice(client, auth)

    right, wrong = await login(client, PASSWORD), await login(client, WRONG)

    assert answer(right) == answer(wrong)
    assert right.status_code == 401 and right.json()["error"] == "invalid_credentials"
    assert "disabled" not in right.text


async def test_the_throttle_counts_the_right_password_as_a_failure_too(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Were the right password to reset the backoff, the next answers would tell."""
    sequences = []
    for n, password in enumerate((PASSWORD, WRONG)):
        settings = make_settings(tmp_path / str(n))
        async with SessionJWT(settings, clock=clock) as auth:
            transport = httpx.ASGITransport(
                app=create_app(auth=auth), client=("198.51.100.66", 51000)
            )
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                await disabled_alice(c, auth)
                sequences.append([answer(await login(c, password))[:3] for _ in range(6)])
    assert sequences[0] == sequences[1]
    assert [status for status, *_ in sequences[0]] == [401, 401, 401, 429, 429, 429]


async def test_both_cost_one_argon2_verification(
    client: httpx.AsyncClient, auth: SessionJWT, monkeypatch: pytest.MonkeyPatch
) -> None:
    await disabled_alice(client, auth)
    verified: list[str | None] = []
    original = auth.hashing._verify_sync

    def counting(password_hash: str | None, password: str) -> tuple[bool, bool]:
        verified.append(password_hash)
        return original(password_hash, password)

    monkeypatch.setattr(auth.hashing, "_verify_sync", counting)
    await login(client, PASSWORD)
    await login(client, WRONG)
    assert len(verified) == 2 and verified[0] == verified[1] is not None


async def test_the_owner_is_told_by_mail_once_and_the_audit_trail_says_why(
    client: httpx.AsyncClient, auth: SessionJWT, inbox: Inbox
) -> None:
    alice = await disabled_alice(client, auth)

    for _ in range(2):  # the real user retries; a guesser who found it keeps trying
        await login(client, PASSWORD)
    await login(client, WRONG)  # (the third and last free failure of this address)
    await mails_sent(auth)

    [mail] = inbox.mails_to("alice@example.com")
    assert mail["Subject"] == "Sign-in refused: your account is disabled"
    assert "203.0.113.7" in inbox.text_for("alice@example.com")
    refused = await auth.audit_events(
        AuditFilter(user=alice["user_id"], event=AuditEventType.LOGIN_REFUSED_DISABLED)
    )
    assert len(refused.events) == 2
    failed = await auth.audit_events(
        AuditFilter(user=alice["user_id"], event=AuditEventType.LOGIN_FAILED)
    )
    assert len(failed.events) == 1  # the wrong password stays what it was


async def test_the_sign_in_page_answers_both_alike(
    client: httpx.AsyncClient, auth: SessionJWT, app: FastAPI
) -> None:
    await disabled_alice(client, auth)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 51000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        browser = Browser(http, "pytest-browser/1.0")
        right = await browser.sign_in("alice@example.com", PASSWORD)
        wrong = await browser.sign_in("alice@example.com", WRONG)

    assert right.status_code == wrong.status_code == 401
    assert _without_csrf(right.text) == _without_csrf(wrong.text)
    assert "The email or password is incorrect." in right.text
    assert "disabled" not in right.text.lower()
    assert not right.headers.get_list("set-cookie")


def _without_csrf(page: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


async def test_her_existing_tokens_still_say_account_disabled(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    """A token proves possession, not a guess: it may hear why."""
    alice = await disabled_alice(client, auth)
    me = await client.get("/auth/me", headers=bearer(alice["access_token"]))
    assert me.status_code == 401 and me.json()["error"] == "account_disabled"
    refreshed = await client.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "account_disabled"


async def test_without_smtp_nothing_is_mailed_and_the_answer_is_the_same(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with SessionJWT(make_settings(tmp_path), clock=clock) as auth:
        transport = httpx.ASGITransport(app=create_app(auth=auth), client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await disabled_alice(c, auth)
            assert answer(await login(c, PASSWORD)) == answer(await login(c, WRONG))
        assert not auth.components.outbox.under_way
