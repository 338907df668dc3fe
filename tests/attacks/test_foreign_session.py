"""Another user's session: it cannot be listed, deleted or ended through one's own token.

Deleting a session that belongs to someone else answers exactly like deleting one that does
not exist (404 ``session_not_found``), so session ids cannot be probed either.
"""

from __future__ import annotations

import httpx

from sessionjwt.keys.ring import SigningKey
from tests.attacks.conftest import sign_in
from tests.attacks.expect import Victim, assert_victim_unharmed
from tests.conftest import bearer


async def test_deleting_another_users_session_is_404_and_it_stays_live(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    mallory = await sign_in(client, "mallory@example.com")

    response = await client.delete(
        f"/auth/sessions/{victim.session_id}", headers=bearer(mallory.access_token)
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"] == "session_not_found"
    await assert_victim_unharmed(client, victim)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    await assert_victim_unharmed(client, mallory)


async def test_another_users_session_answers_like_a_missing_one(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    mallory = await sign_in(client, "mallory@example.com")
    missing = "A" * len(victim.session_id)

    foreign = await client.delete(
        f"/auth/sessions/{victim.session_id}", headers=bearer(mallory.access_token)
    )
    absent = await client.delete(f"/auth/sessions/{missing}", headers=bearer(mallory.access_token))

    assert (foreign.status_code, foreign.json()) == (absent.status_code, absent.json())


async def test_another_users_sessions_are_not_listed(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    mallory = await sign_in(client, "mallory@example.com")

    listed = await client.get("/auth/sessions", headers=bearer(mallory.access_token))

    assert listed.status_code == 200, listed.text
    assert [session["id"] for session in listed.json()] == [mallory.session_id]


async def test_deleting_own_session_works(client: httpx.AsyncClient, victim: Victim) -> None:
    """The 404 above is about ownership: the owner can delete the very same session."""
    laptop = await sign_in(client, victim.email, register=False)

    response = await client.delete(
        f"/auth/sessions/{victim.session_id}", headers=bearer(laptop.access_token)
    )

    assert response.status_code == 204, response.text
    gone = await client.get("/auth/me", headers=bearer(victim.access_token))
    assert gone.status_code == 401
    assert gone.json()["error"] == "session_revoked"


async def test_non_admin_cannot_retire_the_signing_key(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """Retiring the key would end every session at once; a plain user gets 403."""
    mallory = await sign_in(client, "mallory@example.com")

    response = await client.post(
        f"/admin/keys/{ours.kid}/retire", headers=bearer(mallory.access_token)
    )

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_role"
    await assert_victim_unharmed(client, victim)
