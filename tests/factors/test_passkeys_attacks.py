"""Attacks on the passkey ceremonies, each answered with its exact refusal (status + code),
on both deployment shapes: assertions for another origin, another RP id or another
challenge; a replayed ceremony; another user's credential offered for a pending sign-in; a
registration replayed or claiming a taken credential id; a cloned credential whose counter
goes back (refused and audited) — and a forged one, which must not pass as a clone.

The attacker's client is the software authenticator of ``soft_authenticator.py``: it signs
whatever it is told to, with genuine keys, so only the server's checks stand in the way.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.db.tables import audit_events
from tests.conftest import bearer, register_and_login
from tests.factors.passkey_steps import (
    RP_ID,
    add_passkey,
    amr,
    authenticate,
    device,
    password_step,
    passwordless,
    refusal,
    register,
    registration,
    second_step,
    sign_in_options,
)
from tests.factors.soft_authenticator import unb64url

ALICE, BOB = "alice@example.com", "bob@example.com"
INVALID = (401, "invalid_passkey")


async def enrolled(client: httpx.AsyncClient, email: str = ALICE, **options: Any) -> Any:
    tokens = await register_and_login(client, email)
    key = device(**options)
    await add_passkey(client, tokens["access_token"], key)
    return key


async def counter_events(auth: SessionJWT) -> list[Any]:
    async with auth.database.read() as connection:
        rows = (
            await connection.execute(
                select(audit_events).where(audit_events.c.event == "passkey_counter_regressed")
            )
        ).all()
    return list(rows)


async def test_an_assertion_for_another_origin_or_rp_id_is_refused(
    client: httpx.AsyncClient,
) -> None:
    key = await enrolled(client)
    # A look-alike site relaying our options to the user's browser: the browser signs its
    # own origin into clientDataJSON, and its own RP id into the authenticator data.
    assert refusal(await passwordless(client, key, origin="https://auth.example.test.evil")) == (
        INVALID
    )
    assert refusal(await passwordless(client, key, origin="http://auth.example.test")) == INVALID
    assert refusal(await passwordless(client, key, rp_id="evil.example")) == INVALID
    assert refusal(await passwordless(client, key, rp_id="example.test")) == INVALID
    pending = await password_step(client, ALICE)
    wrong = await second_step(client, pending["mfa_token"], key, origin="https://evil.example")
    assert refusal(wrong) == INVALID
    # The genuine answer still works (nothing above was accepted or locked the passkey out).
    assert (await passwordless(client, key)).status_code == 200


async def test_a_registration_for_another_origin_or_rp_id_is_refused(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client, ALICE)
    key = device()
    for origin, rp_id in (("https://evil.example", None), (None, "evil.example")):
        ceremony = await registration(client, tokens["access_token"])
        made = key.create(ceremony["options"], origin=origin, rp_id=rp_id)
        answer = await register(client, tokens["access_token"], ceremony["challenge_token"], made)
        assert refusal(answer) == INVALID
    listed = await client.get("/auth/passkeys", headers=bearer(tokens["access_token"]))
    assert listed.json() == []


async def test_an_assertion_over_another_challenge_or_a_used_one_is_refused(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock
) -> None:
    key = await enrolled(client)
    first, second = await sign_in_options(client), await sign_in_options(client)
    # Signed over the second ceremony's challenge, sent with the first's token.
    crossed = key.get(second["options"])
    answer = await authenticate(client, crossed, challenge_token=first["challenge_token"])
    assert refusal(answer) == INVALID
    # A refused answer spends its ceremony: the right answer cannot follow it.
    late = key.get(first["options"])
    answer = await authenticate(client, late, challenge_token=first["challenge_token"])
    assert refusal(answer) == INVALID

    # A successful sign-in replayed as it was sent: the ceremony is used.
    ok = key.get(second["options"])
    assert (await authenticate(client, ok, challenge_token=second["challenge_token"])).is_success
    replayed = await authenticate(client, ok, challenge_token=second["challenge_token"])
    assert refusal(replayed) == INVALID
    # A challenge the server never issued (the client picking its own).
    third = await sign_in_options(client)
    chosen = key.get(third["options"], challenge="A" * 43)
    answer = await authenticate(client, chosen, challenge_token=third["challenge_token"])
    assert refusal(answer) == INVALID
    # An expired ceremony.
    slow = await sign_in_options(client)
    clock.advance(auth.settings.webauthn_challenge_ttl.total_seconds() + 1)
    answer = await authenticate(
        client, key.get(slow["options"]), challenge_token=slow["challenge_token"]
    )
    assert refusal(answer) == INVALID
    # None of this looked like a clone: only genuine signatures reach the counter check.
    assert await counter_events(auth) == []


async def test_another_users_passkey_cannot_complete_a_pending_sign_in_and_counts_as_wrong(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock
) -> None:
    alice_key = await enrolled(client, ALICE)
    bob_key = await enrolled(client, BOB)
    pending = await password_step(client, ALICE)
    ceremony = await sign_in_options(client, pending["mfa_token"])
    # Bob's genuine passkey, signing Alice's pending sign-in's own challenge.
    bobs = bob_key.get(ceremony["options"], credential_id=bob_key.only().id)
    answer = await authenticate(client, bobs, mfa_token=pending["mfa_token"])
    assert refusal(answer) == INVALID
    # Bob's passkey passwordless is Bob, never Alice.
    as_bob = await passwordless(client, bob_key)
    me = await client.get("/auth/me", headers=bearer(as_bob.json()["access_token"]))
    assert me.json()["email"] == BOB

    # Wrong answers count against the pending sign-in like wrong codes: then it is spent.
    for _ in range(auth.settings.mfa_max_attempts - 1):
        clock.advance(10)  # past the account's backoff, which the TOTP tests cover
        again = await authenticate(client, bobs, mfa_token=pending["mfa_token"])
        assert refusal(again) == INVALID
    clock.advance(10)
    right = alice_key.get(ceremony["options"])
    assert refusal(await authenticate(client, right, mfa_token=pending["mfa_token"])) == (
        401,
        "invalid_mfa_token",
    )
    # A new pending sign-in with her own passkey works.
    fresh = await password_step(client, ALICE)
    done = await second_step(client, fresh["mfa_token"], alice_key)
    assert amr(done.json()["access_token"]) == ["pwd", "hwk", "mfa"]


async def test_a_registration_replayed_or_claiming_a_taken_credential_is_refused(
    client: httpx.AsyncClient,
) -> None:
    alice = await register_and_login(client, ALICE)
    alice_key = device()
    ceremony = await registration(client, alice["access_token"])
    made = alice_key.create(ceremony["options"])
    first = await register(client, alice["access_token"], ceremony["challenge_token"], made)
    assert first.status_code == 201, first.text
    replayed = await register(client, alice["access_token"], ceremony["challenge_token"], made)
    assert refusal(replayed) == INVALID

    # Bob claims Alice's credential id with a key of his own (attestation "none" signs no id).
    bob = await register_and_login(client, BOB)
    bob_key = device()
    ceremony = await registration(client, bob["access_token"])
    claim = bob_key.create(ceremony["options"], credential_id=unb64url(alice_key.only().id))
    answer = await register(client, bob["access_token"], ceremony["challenge_token"], claim)
    assert refusal(answer) == (409, "factor_exists")
    # Alice's passkey is still hers, and Bob's copy signs in as nobody.
    as_alice = await passwordless(client, alice_key)
    me = await client.get("/auth/me", headers=bearer(as_alice.json()["access_token"]))
    assert me.json()["email"] == ALICE
    assert refusal(await passwordless(client, bob_key)) == INVALID

    # A ceremony belongs to the session that started it: not Alice's other device, not Bob.
    pending = await password_step(client, ALICE)
    other_device = (await second_step(client, pending["mfa_token"], alice_key)).json()
    stolen = await registration(client, alice["access_token"])
    made = device().create(stolen["options"])
    for thief in (other_device, bob):
        answer = await register(client, thief["access_token"], stolen["challenge_token"], made)
        assert refusal(answer) == INVALID


async def test_a_cloned_passkey_whose_counter_goes_back_is_refused_and_audited(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    key = await enrolled(client)
    for _ in range(2):
        assert (await passwordless(client, key)).status_code == 200  # counter 1, then 2
    # A forged assertion claiming an old count is just invalid, not a clone: the signature
    # is checked before the counter, so nobody can make a genuine passkey look copied.
    forged = await passwordless(client, key, sign_count=1, forge_signature=True)
    assert refusal(forged) == INVALID
    assert await counter_events(auth) == []

    # The copy: a genuine signature, with the count the copy remembers.
    cloned = await passwordless(client, key, sign_count=1)
    assert refusal(cloned) == (401, "passkey_counter_regressed")
    same = await passwordless(client, key, sign_count=2)
    assert refusal(same) == (401, "passkey_counter_regressed")
    events = await counter_events(auth)
    assert [(e.detail["stored_count"], e.detail["presented_count"]) for e in events] == [
        (2, 1),
        (2, 2),
    ]
    user = await auth.users.find_by_email(ALICE)
    assert user is not None and {e.user_id for e in events} == {user.id}

    # As the second factor too; the original, counting on, still works.
    pending = await password_step(client, ALICE)
    second = await second_step(client, pending["mfa_token"], key, sign_count=1)
    assert refusal(second) == (401, "passkey_counter_regressed")
    assert (await passwordless(client, key, sign_count=3)).status_code == 200


async def test_malformed_answers_are_refused_never_a_server_error(
    client: httpx.AsyncClient,
) -> None:
    key = await enrolled(client)
    ceremony = await sign_in_options(client)
    genuine = key.get(ceremony["options"])
    broken: list[dict[str, Any]] = [
        {},
        {"id": "x", "rawId": "y", "type": "public-key", "response": {}},
        {**genuine, "type": "password"},
        {**genuine, "response": {**genuine["response"], "authenticatorData": "!!"}},
        {**genuine, "response": {**genuine["response"], "clientDataJSON": "e30"}},
        {**genuine, "response": {**genuine["response"], "userHandle": 7}},
        {**genuine, "id": "A" * 2000, "rawId": "A" * 2000},
    ]
    for credential in broken:
        options = await sign_in_options(client)
        answer = await authenticate(client, credential, challenge_token=options["challenge_token"])
        assert refusal(answer) == INVALID, credential
    # The user handle must be the passkey's own user.
    options = await sign_in_options(client)
    other_user = key.get(options["options"])
    other_user["response"]["userHandle"] = "Ym9i"
    answer = await authenticate(client, other_user, challenge_token=options["challenge_token"])
    assert refusal(answer) == INVALID
    both = await client.post(
        "/auth/passkeys/authentication",
        json={"challenge_token": "a", "mfa_token": "b", "credential": genuine},
    )
    assert refusal(both) == (422, "validation_error")
    neither = await client.post("/auth/passkeys/authentication", json={"credential": genuine})
    assert refusal(neither) == (422, "validation_error")
    unknown = await authenticate(client, genuine, challenge_token="not-a-ceremony")
    assert refusal(unknown) == INVALID
    assert refusal(
        await client.post("/auth/passkeys/authentication/options", json={"mfa_token": "nope"})
    ) == (401, "invalid_mfa_token")
    assert RP_ID in str(ceremony["options"])
