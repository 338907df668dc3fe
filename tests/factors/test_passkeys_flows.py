"""Passkeys over HTTP as a client app uses them: add one, sign in with it alone, sign in with
the password and the passkey, step up, rename and remove — on both deployment shapes (the
ceremonies, pending sign-ins and counters are rows).

The browser's part is played by a software authenticator (``soft_authenticator.py``); the
same flows in Chromium with its virtual authenticator are ``tests/e2e/test_passkeys.py``.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.client import ClientInfo
from sessionjwt.db.tables import audit_events, recovery_codes
from sessionjwt.sessions.issue import Federation
from tests.conftest import PASSWORD, bearer, register_and_login
from tests.factors.passkey_steps import (
    RP_ID,
    add_passkey,
    amr,
    authenticate,
    device,
    password_step,
    passwordless,
    refusal,
    second_step,
    sign_in_options,
)

EMAIL = "alice@example.com"


async def test_a_passkey_added_on_one_device_signs_in_alone_and_ends_the_other_sessions(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    phone = await register_and_login(client, EMAIL, user_agent="Phone/1.0")
    laptop = await register_and_login(client, EMAIL, user_agent="Laptop/1.0", register=False)
    key = device()

    added = await add_passkey(client, laptop["access_token"], key, "Work laptop")
    assert added["passkey"]["name"] == "Work laptop"
    assert added["passkey"]["last_used_at"] is None
    assert len(added["recovery_codes"]) == 10  # the first factor: shown once, here
    # The other session ended; the one that added it stays and is now an MFA session.
    assert refusal(await client.get("/auth/me", headers=bearer(phone["access_token"]))) == (
        401,
        "session_revoked",
    )
    factors = (await client.get("/auth/mfa", headers=bearer(laptop["access_token"]))).json()
    assert factors["passkeys"] == 1
    assert factors["methods"] == ["webauthn", "recovery_code"]
    assert factors["mfa_session"] is True

    signed_in = await passwordless(client, key)
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    assert amr(tokens["access_token"]) == ["hwk", "user", "mfa"]
    me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json()["email"] == EMAIL
    listed = (await client.get("/auth/passkeys", headers=bearer(tokens["access_token"]))).json()
    assert [(p["name"], p["last_used_at"] is not None) for p in listed] == [("Work laptop", True)]
    assert "public_key" not in listed[0] and "credential_id" not in listed[0]
    # A refresh keeps how the session signed in.
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert amr(refreshed.json()["access_token"]) == ["hwk", "user", "mfa"]
    added_events = [
        row.detail
        for row in await _events(auth, "factor_added")
        if row.detail and row.detail.get("factor") == "passkey"
    ]
    assert len(added_events) == 1


async def test_the_password_then_the_passkey_completes_a_pending_sign_in(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client, EMAIL)
    key = device()
    await add_passkey(client, tokens["access_token"], key)

    pending = await password_step(client, EMAIL)
    assert pending["methods"] == ["webauthn", "recovery_code"]
    assert not {"access_token", "refresh_token"} & set(pending)
    ceremony = await sign_in_options(client, pending["mfa_token"])
    assert ceremony["challenge_token"] is None  # the challenge rides on the mfa_token
    assert [c["id"] for c in ceremony["options"]["allowCredentials"]] == [key.only().id]
    assert ceremony["options"]["rpId"] == RP_ID

    done = await second_step(client, pending["mfa_token"], key)
    assert done.status_code == 200, done.text
    assert amr(done.json()["access_token"]) == ["pwd", "hwk", "mfa"]
    # The pending sign-in is used up with it: neither new options nor the same answer again.
    again = await authenticate(client, key.get(ceremony["options"]), mfa_token=pending["mfa_token"])
    assert refusal(again) == (401, "invalid_mfa_token")
    more = await client.post(
        "/auth/passkeys/authentication/options", json={"mfa_token": pending["mfa_token"]}
    )
    assert refusal(more) == (401, "invalid_mfa_token")


async def test_a_provider_sign_in_takes_the_passkey_step_and_keeps_its_provider_session(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    """The provider vouches for the first factor only; the session the passkey completes is
    the provider session's (so the provider's back-channel logout still ends it)."""
    tokens = await register_and_login(client, EMAIL)
    key = device()
    await add_passkey(client, tokens["access_token"], key)
    user = await auth.users.find_by_email(EMAIL)
    assert user is not None
    federation = Federation(idp="corp", identity_id="identity-1", idp_sid="op-session-1")
    pending = await auth.factors.after_first_factor(
        user, ("fed",), ClientInfo(), federation=federation
    )
    assert pending is not None and "webauthn" in pending.methods
    done = await second_step(client, pending.mfa_token, key)
    assert done.status_code == 200, done.text
    assert amr(done.json()["access_token"]) == ["fed", "hwk", "mfa"]
    loaded = await auth.session_store.load(done.json()["session_id"])
    assert loaded is not None
    record = loaded[0]
    assert (record.idp, record.identity_id, record.idp_sid) == (
        "corp",
        "identity-1",
        "op-session-1",
    )


async def test_a_synced_passkey_says_swk_and_an_unverified_user_cannot_sign_in_without_a_password(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client, EMAIL)
    synced = device(backup_eligible=True, backed_up=True, counter=False)
    added = await add_passkey(client, tokens["access_token"], synced, "Phone")
    assert added["passkey"]["synced"] is True
    signed_in = await passwordless(client, synced)
    assert amr(signed_in.json()["access_token"]) == ["swk", "user", "mfa"]
    # A counter that stays at 0 (synced passkeys keep none) is not a clone.
    assert (await passwordless(client, synced)).status_code == 200

    # A security key without PIN or biometric is one factor: not enough alone ...
    tokens = await register_and_login(client, EMAIL, register=False)
    pending = await password_step(client, EMAIL)
    fresh = await second_step(client, pending["mfa_token"], synced)
    assert fresh.status_code == 200
    plain = device(user_verification=False)
    await add_passkey(client, fresh.json()["access_token"], plain, "Security key")
    assert refusal(await passwordless(client, plain)) == (401, "invalid_passkey")
    # ... but a second factor after the password.
    pending = await password_step(client, EMAIL)
    done = await second_step(client, pending["mfa_token"], plain)
    assert done.status_code == 200, done.text
    assert amr(done.json()["access_token"]) == ["pwd", "hwk", "mfa"]


async def test_removing_a_passkey_needs_a_fresh_proof_which_a_passkey_step_up_gives(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock
) -> None:
    tokens = await register_and_login(client, EMAIL)
    key = device()
    added = await add_passkey(client, tokens["access_token"], key)
    passkey_id = added["passkey"]["id"]
    access = bearer(tokens["access_token"])

    clock.advance(auth.settings.fresh_auth_window.total_seconds() + 1)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    access = bearer(refreshed.json()["access_token"])
    stale = await client.delete(f"/auth/passkeys/{passkey_id}", headers=access)
    assert refusal(stale) == (403, "reauthentication_required")
    assert refusal(await client.post("/auth/passkeys/registration/options", headers=access)) == (
        403,
        "reauthentication_required",
    )

    ceremony = await client.post("/auth/passkeys/step-up/options", headers=access)
    assert ceremony.status_code == 200
    body = ceremony.json()
    stepped = await client.post(
        "/auth/passkeys/step-up",
        json={
            "challenge_token": body["challenge_token"],
            "credential": key.get(body["options"]),
        },
        headers=access,
    )
    assert stepped.status_code == 204, stepped.text
    assert {row.detail["amr"] for row in await _events(auth, "stepped_up")} >= {"pwd hwk mfa"}

    # Rename needs no proof; another user's passkey is not found.
    renamed = await client.patch(
        f"/auth/passkeys/{passkey_id}", json={"name": "  Old\tlaptop "}, headers=access
    )
    assert renamed.json()["name"] == "Old laptop"
    bob = await register_and_login(client, "bob@example.com")
    foreign = await client.delete(
        f"/auth/passkeys/{passkey_id}", headers=bearer(bob["access_token"])
    )
    assert refusal(foreign) == (404, "factor_not_found")

    removed = await client.delete(f"/auth/passkeys/{passkey_id}", headers=access)
    assert removed.status_code == 204
    assert (await client.get("/auth/passkeys", headers=access)).json() == []
    factors = (await client.get("/auth/mfa", headers=access)).json()
    assert (factors["methods"], factors["recovery_codes_left"]) == ([], 0)
    async with auth.database.read() as connection:
        left = (await connection.execute(select(recovery_codes))).all()
    assert left == []  # the last factor took the recovery codes with it
    assert refusal(await passwordless(client, key)) == (401, "invalid_passkey")
    # The password alone signs in again.
    again = await client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert "access_token" in again.json()


async def test_a_disabled_account_cannot_sign_in_with_its_passkey(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    tokens = await register_and_login(client, EMAIL)
    key = device()
    await add_passkey(client, tokens["access_token"], key)
    user = await auth.users.find_by_email(EMAIL)
    assert user is not None
    await auth.set_user_disabled(user.id, True)
    assert refusal(await passwordless(client, key)) == (401, "account_disabled")


async def _events(auth: SessionJWT, event: str) -> list[Any]:
    async with auth.database.read() as connection:
        rows = (
            await connection.execute(select(audit_events).where(audit_events.c.event == event))
        ).all()
    return list(rows)
