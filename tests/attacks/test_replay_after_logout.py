"""Replay after logout: once ``/auth/logout`` (or sign-out-everywhere) has answered, neither the
session's access token nor its refresh token opens anything again, and no fresh token appears.

Logout revokes the session in the store first, so the refusal does not wait for ``exp``.
"""

from __future__ import annotations

import httpx

from tests.attacks.conftest import sign_in
from tests.attacks.expect import Victim, assert_refused, assert_victim_unharmed, attack
from tests.conftest import bearer


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


async def test_access_token_replayed_after_logout(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    logout = await client.post("/auth/logout", headers=bearer(victim.access_token))
    assert logout.status_code == 204, logout.text

    assert_refused(await attack(client, victim.access_token), "session_revoked")
    # A second logout with the same token is refused too: nothing to end, nothing to learn.
    again = await client.post("/auth/logout", headers=bearer(victim.access_token))
    assert_refused(again, "session_revoked")


async def test_refresh_token_replayed_after_logout(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    logout = await client.post("/auth/logout", headers=bearer(victim.access_token))
    assert logout.status_code == 204, logout.text

    response = await refresh(client, victim.refresh_token)

    assert_refused(response, "session_revoked")
    assert "access_token" not in response.json()


async def test_rotated_refresh_token_replayed_after_logout(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """The thief kept the old refresh token; the owner refreshed, then logged out."""
    rotated = await refresh(client, victim.refresh_token)
    assert rotated.status_code == 200, rotated.text
    new_access = rotated.json()["access_token"]
    new_refresh = rotated.json()["refresh_token"]
    logout = await client.post("/auth/logout", headers=bearer(new_access))
    assert logout.status_code == 204, logout.text

    assert_refused(await refresh(client, victim.refresh_token), "session_revoked")
    assert_refused(await refresh(client, new_refresh), "session_revoked")
    assert_refused(await attack(client, new_access), "session_revoked")
    assert_refused(await attack(client, victim.access_token), "session_revoked")


async def test_tokens_replayed_after_sign_out_everywhere(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    laptop = await sign_in(client, "victim@example.com", register=False)
    assert laptop.session_id != victim.session_id
    ended = await client.post("/auth/logout-all", headers=bearer(laptop.access_token))
    assert ended.status_code == 204, ended.text

    for device in (victim, laptop):
        assert_refused(await attack(client, device.access_token), "session_revoked")
        assert_refused(await refresh(client, device.refresh_token), "session_revoked")


async def test_logout_of_one_session_leaves_the_other_sessions_alive(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """The refusals above are about the logged-out session, not about the account."""
    laptop = await sign_in(client, "victim@example.com", register=False)
    logout = await client.post("/auth/logout", headers=bearer(laptop.access_token))
    assert logout.status_code == 204, logout.text

    assert_refused(await attack(client, laptop.access_token), "session_revoked")
    await assert_victim_unharmed(client, victim)
    assert (await refresh(client, victim.refresh_token)).status_code == 200
