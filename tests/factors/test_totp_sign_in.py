"""TOTP over HTTP as a client would use it: enrol with an authenticator app that is not ours
(Node otplib reading the otpauth:// URI), then sign in with the password and a code.

Runs on both deployment shapes (the ``client`` fixture): codes are accepted once by a
conditional UPDATE, and pending sign-ins are rows — both storage paths are exercised.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.db.tables import audit_events, totp_factors
from sessionjwt.errors import SecondFactorRequired
from tests.conftest import PASSWORD, bearer, register_and_login
from tests.factors.conftest import AuthenticatorApp

EMAIL = "alice@example.com"


async def enrol(
    client: httpx.AsyncClient, tokens: dict[str, Any], app: AuthenticatorApp, clock: ManualClock
) -> tuple[str, list[str]]:
    """Set up the authenticator app from the Security flow; its URI and the recovery codes."""
    started = await client.post("/auth/mfa/totp", headers=bearer(tokens["access_token"]))
    assert started.status_code == 200, started.text
    uri = started.json()["otpauth_uri"]
    confirmed = await client.post(
        "/auth/mfa/totp/confirm",
        json={"code": app.code(uri, clock.now())},
        headers=bearer(tokens["access_token"]),
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(30)  # the next code the app shows is a new one
    return uri, confirmed.json()["recovery_codes"]


async def password_step(client: httpx.AsyncClient, email: str = EMAIL) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["mfa_required"] is True, body
    return body


async def second_step(client: httpx.AsyncClient, mfa_token: str, **proof: str) -> httpx.Response:
    return await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, **proof})


async def enrolled_user(
    client: httpx.AsyncClient, app: AuthenticatorApp, clock: ManualClock, email: str = EMAIL
) -> tuple[str, list[str]]:
    tokens = await register_and_login(client, email)
    return await enrol(client, tokens, app, clock)


def claims(access_token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return decoded


async def test_enrolment_hands_out_what_an_app_reads_and_counts_only_once_confirmed(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    phone = await register_and_login(client, user_agent="Phone/1.0")
    laptop = await register_and_login(client, user_agent="Laptop/1.0", register=False)
    started = await client.post("/auth/mfa/totp", headers=bearer(laptop["access_token"]))
    assert started.status_code == 200
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert "alice%40example.com" in body["otpauth_uri"]
    assert body["qr_svg"].lstrip().startswith("<svg")
    assert started.headers["cache-control"] == "no-store"
    # Not confirmed yet: signing in still needs only the password.
    listed = await client.get("/auth/mfa", headers=bearer(laptop["access_token"]))
    assert listed.json()["totp"] is False
    not_yet = await client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert "access_token" in not_yet.json()

    wrong = await client.post(
        "/auth/mfa/totp/confirm", json={"code": "000000"}, headers=bearer(laptop["access_token"])
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_code")
    confirmed = await client.post(
        "/auth/mfa/totp/confirm",
        json={"code": authenticator.code(body["otpauth_uri"], clock.now())},
        headers=bearer(laptop["access_token"]),
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    factors = (await client.get("/auth/mfa", headers=bearer(laptop["access_token"]))).json()
    assert factors == {
        "totp": True,
        "passkeys": 0,
        "recovery_codes_left": 10,
        "methods": ["totp", "recovery_code"],
        "mfa_session": True,
    }
    # Adding a factor ends the user's other sessions; the one that added it stays.
    ended = await client.get("/auth/me", headers=bearer(phone["access_token"]))
    assert (ended.status_code, ended.json()["error"]) == (401, "session_revoked")
    assert (await client.get("/auth/me", headers=bearer(laptop["access_token"]))).status_code == 200


async def test_the_password_alone_gets_no_session_and_the_code_completes_it(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    pending = await password_step(client)
    assert pending["methods"] == ["totp", "recovery_code"]
    assert pending["expires_in"] == 300
    assert not {"access_token", "refresh_token", "session_id"} & set(pending)

    done = await second_step(
        client, pending["mfa_token"], code=authenticator.code(uri, clock.now())
    )
    assert done.status_code == 200, done.text
    tokens = done.json()
    assert claims(tokens["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    assert abs(claims(tokens["access_token"])["auth_time"] - clock.now()) < 2
    me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert claims(refreshed.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]


async def test_a_code_is_accepted_once_even_inside_its_window(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    code = authenticator.code(uri, clock.now())
    first = await password_step(client)
    assert (await second_step(client, first["mfa_token"], code=code)).status_code == 200
    replayed = await second_step(client, (await password_step(client))["mfa_token"], code=code)
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_code")
    # An older code, still inside the drift window, is no better once a newer one was used.
    clock.advance(30)
    newer = authenticator.code(uri, clock.now())
    older = authenticator.code(uri, clock.now() - 30)
    assert older == code
    third = await password_step(client)
    assert (await second_step(client, third["mfa_token"], code=newer)).status_code == 200
    stale = await second_step(client, (await password_step(client))["mfa_token"], code=older)
    assert (stale.status_code, stale.json()["error"]) == (401, "invalid_code")


async def test_one_step_of_drift_either_way_is_accepted_two_are_not(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    clock.advance(60)  # the step behind is not the one enrolment used
    now = clock.now()
    behind, ahead, far_ahead = authenticator.codes(uri, [now - 30, now + 30, now + 90])
    assert (
        await second_step(client, (await password_step(client))["mfa_token"], code=behind)
    ).status_code == 200
    assert (
        await second_step(client, (await password_step(client))["mfa_token"], code=ahead)
    ).status_code == 200
    refused = await second_step(client, (await password_step(client))["mfa_token"], code=far_ahead)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_code")


async def test_racing_requests_with_one_code_make_one_session(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    code = authenticator.code(uri, clock.now())
    pending = await password_step(client)
    answers = await asyncio.gather(
        *(second_step(client, pending["mfa_token"], code=code) for _ in range(4))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[0] == 200 and set(statuses[1:]) <= {401, 429}, statuses  # 429: backoff


async def test_guessing_spends_the_pending_sign_in_after_five_wrong_codes(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    pending = await password_step(client)
    right = authenticator.code(uri, clock.now())
    wrong = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1, 6)]
    for guess in wrong:
        refused = await second_step(client, pending["mfa_token"], code=guess)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_code")
        clock.advance(10)  # past the account's backoff, which has its own test below
    spent = await second_step(
        client, pending["mfa_token"], code=authenticator.code(uri, clock.now())
    )
    assert (spent.status_code, spent.json()["error"]) == (401, "invalid_mfa_token")


async def test_guessing_across_sign_ins_meets_the_accounts_backoff(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    """A fresh pending sign-in per four guesses does not buy unlimited guesses: the
    account's login backoff counts the wrong codes too."""
    await enrolled_user(client, authenticator, clock)
    statuses: list[int] = []
    for _ in range(6):
        pending = await password_step(client)
        for _ in range(4):
            answer = await second_step(client, pending["mfa_token"], code="000000")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert answer.json()["error"] == "rate_limited"
                assert int(answer.headers["retry-after"]) >= 1
                return
    pytest.fail(f"24 wrong codes were all answered without a backoff: {statuses}")


async def test_an_mfa_token_is_single_use_short_lived_and_only_its_users(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    alice_uri, _ = await enrolled_user(client, authenticator, clock)
    bob_uri, _ = await enrolled_user(client, authenticator, clock, email="bob@example.com")
    alice = await password_step(client)
    # Bob's genuine code does not complete Alice's sign-in.
    bobs_code = await second_step(
        client, alice["mfa_token"], code=authenticator.code(bob_uri, clock.now())
    )
    if authenticator.code(bob_uri, clock.now()) != authenticator.code(alice_uri, clock.now()):
        assert (bobs_code.status_code, bobs_code.json()["error"]) == (401, "invalid_code")
    done = await second_step(
        client, alice["mfa_token"], code=authenticator.code(alice_uri, clock.now())
    )
    assert done.status_code == 200
    again = await second_step(
        client, alice["mfa_token"], code=authenticator.code(alice_uri, clock.now() + 30)
    )
    assert (again.status_code, again.json()["error"]) == (401, "invalid_mfa_token")

    late = await password_step(client)
    clock.advance(301)
    expired = await second_step(
        client, late["mfa_token"], code=authenticator.code(alice_uri, clock.now())
    )
    assert (expired.status_code, expired.json()["error"]) == (401, "invalid_mfa_token")
    forged = await second_step(client, "x" * 43, code="123456")
    assert (forged.status_code, forged.json()["error"]) == (401, "invalid_mfa_token")


async def test_the_pending_state_opens_no_other_door(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    """Skipping the second step: the mfa_token offered as a refresh token, a bearer token or
    to the enrolment route of an account that has a factor — all refused."""
    await enrolled_user(client, authenticator, clock)
    token = (await password_step(client))["mfa_token"]
    as_refresh = await client.post("/auth/refresh", json={"refresh_token": token})
    assert (as_refresh.status_code, as_refresh.json()["error"]) == (401, "invalid_token")
    for path in ("/auth/me", "/auth/sessions"):
        as_bearer = await client.get(path, headers=bearer(token))
        assert (as_bearer.status_code, as_bearer.json()["error"]) == (401, "invalid_token")
    enrol_again = await client.post("/auth/login/mfa/totp", json={"mfa_token": token})
    assert (enrol_again.status_code, enrol_again.json()["error"]) == (409, "factor_exists")
    both = await client.post(
        "/auth/login/mfa", json={"mfa_token": token, "code": "123456", "recovery_code": "x"}
    )
    assert (both.status_code, both.json()["error"]) == (422, "validation_error")


async def test_a_recovery_code_signs_in_once_and_is_audited(
    client: httpx.AsyncClient, auth: SessionJWT, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    _, codes = await enrolled_user(client, authenticator, clock)
    typed = codes[0].lower().replace("-", " ")  # as a person might type it
    done = await second_step(
        client, (await password_step(client))["mfa_token"], recovery_code=typed
    )
    assert done.status_code == 200, done.text
    assert claims(done.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    again = await second_step(
        client, (await password_step(client))["mfa_token"], recovery_code=codes[0]
    )
    assert (again.status_code, again.json()["error"]) == (401, "invalid_code")
    left = await client.get("/auth/mfa", headers=bearer(done.json()["access_token"]))
    assert left.json()["recovery_codes_left"] == 9
    async with auth.database.read() as connection:
        used = (
            await connection.execute(
                select(audit_events.c.event).where(audit_events.c.event == "recovery_code_used")
            )
        ).all()
    assert len(used) == 1


async def test_sensitive_actions_need_a_fresh_code_not_the_password(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    pending = await password_step(client)
    tokens = (
        await second_step(client, pending["mfa_token"], code=authenticator.code(uri, clock.now()))
    ).json()
    headers = bearer(tokens["access_token"])
    clock.advance(11 * 60)  # past fresh_auth_window
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    headers = bearer(refreshed.json()["access_token"])
    stale = await client.post("/auth/logout-all?keep_current=true", headers=headers)
    assert (stale.status_code, stale.json()["error"]) == (403, "reauthentication_required")
    assert "second factor" in stale.json()["message"]
    password_only = await client.post(
        "/auth/reauthenticate", json={"password": PASSWORD}, headers=headers
    )
    assert password_only.status_code == 204
    still = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "a new and long passphrase"},
        headers=headers,
    )
    assert (still.status_code, still.json()["error"]) == (403, "reauthentication_required")
    wrong = await client.post("/auth/reauthenticate", json={"code": "000000"}, headers=headers)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_code")
    stepped = await client.post(
        "/auth/reauthenticate", json={"code": authenticator.code(uri, clock.now())}, headers=headers
    )
    assert stepped.status_code == 204, stepped.text
    assert (
        await client.post("/auth/logout-all?keep_current=true", headers=headers)
    ).status_code == 204


async def test_removing_the_app_needs_a_fresh_code_and_leaves_the_password(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    pending = await password_step(client)
    tokens = (
        await second_step(client, pending["mfa_token"], code=authenticator.code(uri, clock.now()))
    ).json()
    clock.advance(11 * 60)
    tokens = (
        await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).json()
    stale = await client.delete("/auth/mfa/totp", headers=bearer(tokens["access_token"]))
    assert (stale.status_code, stale.json()["error"]) == (403, "reauthentication_required")
    await client.post(
        "/auth/reauthenticate",
        json={"code": authenticator.code(uri, clock.now())},
        headers=bearer(tokens["access_token"]),
    )
    removed = await client.delete("/auth/mfa/totp", headers=bearer(tokens["access_token"]))
    assert removed.status_code == 204
    factors = (await client.get("/auth/mfa", headers=bearer(tokens["access_token"]))).json()
    assert (factors["totp"], factors["recovery_codes_left"], factors["methods"]) == (False, 0, [])
    plain = await client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert "access_token" in plain.json()
    assert claims(plain.json()["access_token"])["amr"] == ["pwd"]


async def test_the_secret_is_sealed_at_rest(
    client: httpx.AsyncClient, auth: SessionJWT, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    tokens = await register_and_login(client)
    started = await client.post("/auth/mfa/totp", headers=bearer(tokens["access_token"]))
    secret = started.json()["secret"]
    async with auth.database.read() as connection:
        sealed = (await connection.execute(select(totp_factors.c.secret_sealed))).scalar_one()
    assert secret.encode() not in sealed
    import base64

    assert base64.b32decode(secret) not in sealed


async def test_a_caller_of_login_that_cannot_take_a_pending_sign_in_is_refused(
    client: httpx.AsyncClient, auth: SessionJWT, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    await enrolled_user(client, authenticator, clock)
    with pytest.raises(SecondFactorRequired) as refused:
        await auth.login(EMAIL, PASSWORD)
    assert refused.value.code == "mfa_required"


async def test_recovery_codes_are_stored_only_as_digests(
    client: httpx.AsyncClient, auth: SessionJWT, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    import hashlib

    from sessionjwt.db.tables import recovery_codes

    _, codes = await enrolled_user(client, authenticator, clock)
    assert all(len(code.replace("-", "")) == 24 for code in codes)  # 120 bits each
    async with auth.database.read() as connection:
        stored = {row[0] for row in await connection.execute(select(recovery_codes.c.code_hash))}
    assert stored == {hashlib.sha256(code.encode()).hexdigest() for code in codes}


async def test_ended_pending_sign_ins_are_cleared_as_new_ones_begin(
    client: httpx.AsyncClient, auth: SessionJWT, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    from sqlalchemy import func

    from sessionjwt.db.tables import mfa_challenges

    await enrolled_user(client, authenticator, clock)
    await password_step(client)
    await password_step(client)
    clock.advance(301)
    await password_step(client)
    async with auth.database.read() as connection:
        left = await connection.scalar(select(func.count()).select_from(mfa_challenges))
    assert left == 1


async def test_the_scopes_a_sign_in_asked_for_survive_its_second_step(
    client: httpx.AsyncClient, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    uri, _ = await enrolled_user(client, authenticator, clock)
    pending = await client.post(
        "/auth/login", json={"email": EMAIL, "password": PASSWORD, "scope": "reports:read"}
    )
    assert pending.json()["mfa_required"] is True
    done = await second_step(
        client, pending.json()["mfa_token"], code=authenticator.code(uri, clock.now())
    )
    assert done.status_code == 200, done.text
    assert claims(done.json()["access_token"])["scope"] == "reports:read"
    listing = await client.get("/auth/sessions", headers=bearer(done.json()["access_token"]))
    assert listing.status_code == 403 and listing.json()["error"] == "insufficient_scope"
