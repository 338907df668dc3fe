"""E-mail verification, uniform sign-up and e-mail change, over HTTP with a real SMTP server.

Every link is read back from the aiosmtpd inbox, as a person would follow it. Each test runs
on SQLite and on PostgreSQL with Redis (the ``settings`` fixture's backends).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.audit.query import AuditFilter
from tests.conftest import PASSWORD, bearer, make_settings
from tests.mail import Inbox, smtp_server, smtp_settings

OTHER_PASSWORD = "an attacker's own passphrase 7"
LINK = re.compile(r"https://app\.example\.test/(?:verify|email|reset)\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(LINK)
    with smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


@pytest.fixture(params=["required"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    tmp_path: Path, backend: dict[str, object], smtp: tuple[Inbox, int], mode: str
) -> Settings:
    return make_settings(
        tmp_path,
        **backend,
        **smtp_settings(smtp[1]),
        email_verification=mode,
        email_verification_url="https://app.example.test/verify?token={token}",
        email_change_url="https://app.example.test/email?token={token}",
        password_reset_url="https://app.example.test/reset?token={token}",
    )


async def mail_sent(auth: SessionJWT) -> None:
    await asyncio.gather(*auth.components.outbox.under_way)


async def sign_up(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    return await client.post("/auth/register", json={"email": email, "password": password})


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    return await client.post("/auth/login", json={"email": email, "password": password})


def link_in(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found
    return found.group(1)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


async def events(auth: SessionJWT, user_id: str) -> list[str]:
    page = await auth.audit_events(AuditFilter(user=user_id, limit=100))
    return [event.event for event in page.events]


# -- uniform sign-up -----------------------------------------------------------------------


async def test_sign_up_answers_the_same_for_a_new_and_a_taken_address_only_the_mail_differs(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    bob = await auth.register("bob@example.com", PASSWORD, verified=True)
    new = await sign_up(client, "carol@example.com")
    taken = await sign_up(client, "bob@example.com", OTHER_PASSWORD)
    assert new.status_code == taken.status_code == 202
    assert new.json() == taken.json()
    assert new.headers.get("content-length") == taken.headers.get("content-length")
    await mail_sent(auth)
    assert inbox.mails_to("carol@example.com")[-1]["Subject"] == "Confirm your email address"
    assert LINK.search(inbox.text_for("carol@example.com"))
    notice = inbox.mails_to("bob@example.com")[-1]
    assert notice["Subject"] == "Someone tried to sign up with your address"
    assert not LINK.search(inbox.text_for("bob@example.com"))
    # The taken account is untouched: its password is the owner's, not the second comer's.
    assert (await login(client, "bob@example.com")).status_code == 200
    assert_error(await login(client, "bob@example.com", OTHER_PASSWORD), 401, "invalid_credentials")
    assert "register_existing_email" in await events(auth, bob.id)


async def test_sign_up_costs_one_hash_and_one_write_whether_or_not_the_address_is_taken(
    auth: SessionJWT, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parity asserted structurally, not by timing: the same argon2 work (one hash, no
    verification), the same one user lookup and the same one write transaction."""
    await auth.register("bob@example.com", PASSWORD, verified=True)
    work: list[str] = []
    hash_async = auth.hashing.hash
    verify_sync = auth.hashing._verify_sync
    read, write = auth.database.read, auth.database.write

    async def counting_hash(password: str) -> str:
        work.append("hash")
        return await hash_async(password)

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            work.append(name)
            return original(*args)

        return counted

    monkeypatch.setattr(auth.hashing, "hash", counting_hash)
    monkeypatch.setattr(auth.hashing, "_verify_sync", counting("verify", verify_sync))
    monkeypatch.setattr(auth.database, "read", counting("read", read))
    monkeypatch.setattr(auth.database, "write", counting("write", write))

    assert (await sign_up(client, "carol@example.com")).status_code == 202
    new, work[:] = list(work), []
    assert (await sign_up(client, "bob@example.com", OTHER_PASSWORD)).status_code == 202
    taken = list(work)
    assert new == taken
    assert new.count("hash") == 1 and new.count("verify") == 0 and new.count("write") == 1


async def test_sign_up_refusals_depend_on_the_input_only(
    auth: SessionJWT, client: httpx.AsyncClient
) -> None:
    await auth.register("bob@example.com", PASSWORD, verified=True)
    for address in ("bob@example.com", "carol@example.com"):
        assert_error(await sign_up(client, address, "short"), 422, "weak_password")
    assert_error(await sign_up(client, "not an address"), 422, "invalid_email")


@pytest.mark.parametrize("mode", ["off"], indirect=True)
async def test_off_mode_keeps_201_and_409(auth: SessionJWT, client: httpx.AsyncClient) -> None:
    created = await sign_up(client, "carol@example.com")
    assert created.status_code == 201 and created.json()["email"] == "carol@example.com"
    assert_error(await sign_up(client, "carol@example.com"), 409, "email_taken")
    assert (await login(client, "carol@example.com")).status_code == 200
    await mail_sent(auth)


# -- the verification link -----------------------------------------------------------------


async def test_the_link_verifies_once_and_only_then_the_password_signs_in(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await sign_up(client, "carol@example.com")
    await mail_sent(auth)
    token = inbox.token_for("carol@example.com")
    assert_error(await login(client, "carol@example.com"), 403, "email_not_verified")
    # A wrong password, or an unknown address, is the same 401 as ever: no oracle.
    assert_error(
        await login(client, "carol@example.com", OTHER_PASSWORD), 401, "invalid_credentials"
    )
    assert_error(await login(client, "nobody@example.com"), 401, "invalid_credentials")

    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204
    again = await client.post("/auth/verify-email", json={"token": token})
    assert_error(again, 400, "invalid_verification_token")
    signed_in = await login(client, "carol@example.com")
    assert signed_in.status_code == 200
    me = await client.get("/auth/me", headers=bearer(signed_in.json()["access_token"]))
    assert me.json()["email_verified"] is True
    user = await auth.users.require_by_email("carol@example.com")
    assert {
        "register",
        "email_verification_sent",
        "login_email_not_verified",
        "email_verified",
    } <= set(await events(auth, user.id))


async def test_expired_superseded_and_forged_links_are_refused(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox, clock: ManualClock
) -> None:
    await sign_up(client, "carol@example.com")
    await mail_sent(auth)
    first = inbox.token_for("carol@example.com")
    resent = await client.post("/auth/verify-email/resend", json={"email": "carol@example.com"})
    assert resent.status_code == 202
    await mail_sent(auth)
    second = inbox.token_for("carol@example.com")
    assert first != second
    for token in (first, "forged-" + second[7:], second + "x"):
        refused = await client.post("/auth/verify-email", json={"token": token})
        assert_error(refused, 400, "invalid_verification_token")
    clock.advance(auth.settings.email_verification_ttl.total_seconds() + 1)
    expired = await client.post("/auth/verify-email", json={"token": second})
    assert_error(expired, 400, "invalid_verification_token")
    assert_error(await login(client, "carol@example.com"), 403, "email_not_verified")


async def test_resend_always_answers_202_and_is_throttled_per_address(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await auth.register("bob@example.com", PASSWORD, verified=True)
    answers = []
    for address in ("nobody@example.com", "bob@example.com"):
        answer = await client.post("/auth/verify-email/resend", json={"email": address})
        answers.append((answer.status_code, answer.json()))
    assert answers[0] == answers[1] and answers[0][0] == 202
    await mail_sent(auth)
    assert inbox.mails_to("nobody@example.com") == inbox.mails_to("bob@example.com") == []
    for _ in range(2):  # 3/hour per address by default: two more go through
        ok = await client.post("/auth/verify-email/resend", json={"email": "Nobody@Example.com"})
        assert ok.status_code == 202
    throttled = await client.post("/auth/verify-email/resend", json={"email": "nobody@example.com"})
    assert_error(throttled, 429, "rate_limited")
    assert int(throttled.headers["retry-after"]) >= 1


@pytest.mark.parametrize("mode", ["optional"], indirect=True)
async def test_optional_mode_signs_in_unverified_and_says_so(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await sign_up(client, "carol@example.com")
    await mail_sent(auth)
    signed_in = await login(client, "carol@example.com")
    assert signed_in.status_code == 200
    headers = bearer(signed_in.json()["access_token"])
    assert (await client.get("/auth/me", headers=headers)).json()["email_verified"] is False
    token = inbox.token_for("carol@example.com")
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204
    # The same session says so at once: the verification re-reads the user everywhere.
    assert (await client.get("/auth/me", headers=headers)).json()["email_verified"] is True


async def test_operator_made_accounts_are_verified_and_direct_ones_are_not(
    auth: SessionJWT, client: httpx.AsyncClient
) -> None:
    await auth.register("op@example.com", PASSWORD, verified=True)
    await auth.register("app@example.com", PASSWORD)
    assert (await login(client, "op@example.com")).status_code == 200
    assert_error(await login(client, "app@example.com"), 403, "email_not_verified")


# -- attacks on sign-up ----------------------------------------------------------------------


async def test_signing_up_someone_elses_address_neither_confirms_nor_takes_it_over(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    """The attacker signs up the victim's (free) address with their own password: the link
    goes only to the victim's mailbox. When the victim then signs up, the attacker's link
    stops working and the victim is told to reset the password, which proves the address
    and locks the attacker's password out."""
    await sign_up(client, "victim@example.com", OTHER_PASSWORD)
    await mail_sent(auth)
    attackers_link = inbox.token_for("victim@example.com")
    assert_error(
        await login(client, "victim@example.com", OTHER_PASSWORD), 403, "email_not_verified"
    )

    await sign_up(client, "victim@example.com")  # the owner, later
    await mail_sent(auth)
    assert "reset your password" in inbox.text_for("victim@example.com")
    stale = await client.post("/auth/verify-email", json={"token": attackers_link})
    assert_error(stale, 400, "invalid_verification_token")

    user = await auth.users.require_by_email("victim@example.com")
    assert not user.email_verified
    await client.post("/auth/password-reset", json={"email": "victim@example.com"})
    await mail_sent(auth)
    reset = await client.post(
        "/auth/password-reset/confirm",
        json={"token": inbox.token_for("victim@example.com"), "new_password": PASSWORD},
    )
    assert reset.status_code == 204
    assert (await login(client, "victim@example.com")).status_code == 200
    assert_error(
        await login(client, "victim@example.com", OTHER_PASSWORD), 401, "invalid_credentials"
    )


async def test_a_link_cannot_verify_another_account(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await sign_up(client, "carol@example.com")
    await sign_up(client, "dave@example.com")
    await mail_sent(auth)
    carols = inbox.token_for("carol@example.com")
    assert (await client.post("/auth/verify-email", json={"token": carols})).status_code == 204
    assert (await login(client, "carol@example.com")).status_code == 200
    assert_error(await login(client, "dave@example.com"), 403, "email_not_verified")


# -- e-mail change -------------------------------------------------------------------------


async def signed_in(client: httpx.AsyncClient, email: str, agent: str) -> dict[str, str]:
    response = await client.post(
        "/auth/login", json={"email": email, "password": PASSWORD}, headers={"User-Agent": agent}
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


@pytest.mark.parametrize("mode", ["off", "optional", "required"], indirect=True)
async def test_email_change_end_to_end(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    alice = await auth.register("alice@example.com", PASSWORD, verified=True)
    here = await signed_in(client, "alice@example.com", "laptop/1")
    there = await signed_in(client, "alice@example.com", "phone/1")
    asked = await client.post(
        "/auth/email", json={"new_email": "alice@new.example", "password": PASSWORD}, headers=here
    )
    assert asked.status_code == 202, asked.text
    await mail_sent(auth)
    notice = inbox.text_for("alice@example.com")
    assert "alice@new.example" in notice and not LINK.search(notice)
    token = inbox.token_for("alice@new.example")
    # Nothing changed yet.
    assert (await client.get("/auth/me", headers=there)).status_code == 200

    confirmed = await client.post("/auth/email/confirm", json={"token": token}, headers=here)
    assert confirmed.status_code == 204, confirmed.text
    assert_error(await client.get("/auth/me", headers=there), 401, "session_revoked")
    me = (await client.get("/auth/me", headers=here)).json()
    assert me["email"] == "alice@new.example" and me["email_verified"] is True
    assert (await login(client, "alice@new.example")).status_code == 200
    assert_error(await login(client, "alice@example.com"), 401, "invalid_credentials")
    again = await client.post("/auth/email/confirm", json={"token": token}, headers=here)
    assert_error(again, 400, "invalid_verification_token")
    assert {"email_change_requested", "email_changed", "sign_out_everywhere"} <= set(
        await events(auth, alice.id)
    )


async def test_email_change_needs_the_password_and_a_new_valid_address(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await auth.register("alice@example.com", PASSWORD, verified=True)
    here = await signed_in(client, "alice@example.com", "laptop/1")
    wrong = await client.post(
        "/auth/email",
        json={"new_email": "alice@new.example", "password": OTHER_PASSWORD},
        headers=here,
    )
    assert_error(wrong, 401, "invalid_credentials")
    same = await client.post(
        "/auth/email", json={"new_email": "ALICE@example.com", "password": PASSWORD}, headers=here
    )
    assert_error(same, 422, "invalid_email")
    anonymous = await client.post(
        "/auth/email", json={"new_email": "alice@new.example", "password": PASSWORD}
    )
    assert anonymous.status_code == 401
    await mail_sent(auth)
    assert inbox.mails_to("alice@new.example") == []


async def test_another_users_change_link_is_refused(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await auth.register("alice@example.com", PASSWORD, verified=True)
    await auth.register("mallory@example.com", PASSWORD, verified=True)
    alice = await signed_in(client, "alice@example.com", "laptop/1")
    mallory = await signed_in(client, "mallory@example.com", "laptop/2")
    await client.post(
        "/auth/email", json={"new_email": "alice@new.example", "password": PASSWORD}, headers=alice
    )
    await mail_sent(auth)
    token = inbox.token_for("alice@new.example")
    stolen = await client.post("/auth/email/confirm", json={"token": token}, headers=mallory)
    assert_error(stolen, 400, "invalid_verification_token")
    # Nor is a change link a verification link, or the other way round.
    assert_error(
        await client.post("/auth/verify-email", json={"token": token}),
        400,
        "invalid_verification_token",
    )
    ok = await client.post("/auth/email/confirm", json={"token": token}, headers=alice)
    assert ok.status_code == 204
    assert (await client.get("/auth/me", headers=mallory)).json()["email"] == "mallory@example.com"


async def test_changing_to_a_taken_address_tells_nothing_and_races_end_in_409(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await auth.register("alice@example.com", PASSWORD, verified=True)
    await auth.register("bob@example.com", PASSWORD, verified=True)
    await auth.register("taken@example.com", PASSWORD, verified=True)
    alice = await signed_in(client, "alice@example.com", "laptop/1")
    bob = await signed_in(client, "bob@example.com", "laptop/2")
    free = await client.post(
        "/auth/email", json={"new_email": "shared@example.com", "password": PASSWORD}, headers=alice
    )
    taken = await client.post(
        "/auth/email", json={"new_email": "taken@example.com", "password": PASSWORD}, headers=bob
    )
    assert free.status_code == taken.status_code == 202 and free.json() == taken.json()
    await mail_sent(auth)
    assert not LINK.search(inbox.text_for("taken@example.com"))
    # Bob asks for the address Alice is moving to, before she confirms: both get a link.
    await client.post(
        "/auth/email", json={"new_email": "shared@example.com", "password": PASSWORD}, headers=bob
    )
    await mail_sent(auth)
    alices, bobs = [link_in(mail) for mail in inbox.mails_to("shared@example.com")]
    first = await client.post("/auth/email/confirm", json={"token": alices}, headers=alice)
    assert first.status_code == 204
    late = await client.post("/auth/email/confirm", json={"token": bobs}, headers=bob)
    assert_error(late, 409, "email_taken")
    assert (await client.get("/auth/me", headers=bob)).json()["email"] == "bob@example.com"
