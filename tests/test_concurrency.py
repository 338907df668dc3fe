"""Races over HTTP, on SQLite and on PostgreSQL + Redis: one chain per refresh token, nothing
live after a logout returned, no half-created session, and no "database is locked" 500s.

Requests go through the whole app with ``httpx.AsyncClient`` and ``asyncio.gather``, so the
interleavings are the event loop's real ones (the store calls await in between)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from sessionjwt import ManualClock, SessionJWT, Settings
from tests.conftest import PASSWORD, bearer, register_and_login
from tests.test_sessions_http import connect

RACERS = 50


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def login(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
    )


async def login_from(app: FastAPI, peer: str) -> httpx.Response:
    """Parallel logins come from different devices: a burst at one account from one
    address is held back like a burst of guesses (see sessionjwt.accounts.backoff)."""
    async with connect(app, peer) as device:
        return await login(device)


def no_server_errors(*responses: httpx.Response) -> None:
    errors = [(r.status_code, r.text) for r in responses if r.status_code >= 500]
    assert errors == [], errors


async def is_live(client: httpx.AsyncClient, pair: dict[str, Any]) -> bool:
    """Live by every face at once, or dead by every face: anything else is a half state."""
    me = await client.get("/auth/me", headers=bearer(pair["access_token"]))
    no_server_errors(me)
    if me.status_code == 200:
        sessions = await client.get("/auth/sessions", headers=bearer(pair["access_token"]))
        assert pair["session_id"] in {item["id"] for item in sessions.json()}
        renewed = await refresh(client, pair["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        return True
    assert me.json()["error"] == "session_revoked", me.text
    renewed = await refresh(client, pair["refresh_token"])
    assert renewed.status_code == 401, renewed.text
    return False


async def test_fifty_simultaneous_refreshes_make_one_chain(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    first = await register_and_login(client)
    responses = await asyncio.gather(
        *(refresh(client, first["refresh_token"]) for _ in range(RACERS))
    )
    no_server_errors(*responses)
    assert [r.status_code for r in responses] == [200] * RACERS
    assert len({r.json()["refresh_token"] for r in responses}) == 1
    assert {r.json()["session_id"] for r in responses} == {first["session_id"]}
    assert len(await auth.audit.query(event="refresh")) == 1  # one rotation, one chain
    assert await auth.audit.query(event="refresh_reuse_detected") == []
    successor = responses[0].json()

    # Within the grace window the old token still yields that same successor...
    clock.advance(settings.refresh_grace.total_seconds() / 2)
    again = await refresh(client, first["refresh_token"])
    assert again.json()["refresh_token"] == successor["refresh_token"]
    # ...after it, it is reuse, and the whole session ends.
    clock.advance(settings.refresh_grace.total_seconds())
    reused = await refresh(client, first["refresh_token"])
    assert reused.status_code == 401
    assert reused.json()["error"] == "refresh_token_reused"
    assert not await is_live(client, successor)


async def test_refreshes_racing_logout_leave_nothing_live(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        tokens = await register_and_login(client, register=not _)
        racing = [refresh(client, tokens["refresh_token"]) for _ in range(10)]
        logout = client.post("/auth/logout", headers=bearer(tokens["access_token"]))
        *refreshed, logged_out = await asyncio.gather(*racing, logout)
        no_server_errors(*refreshed, logged_out)
        assert logged_out.status_code == 204
        pairs = [tokens] + [r.json() for r in refreshed if r.status_code == 200]
        for response in refreshed:
            if response.status_code != 200:
                assert response.json()["error"] == "session_revoked", response.text
        for pair in pairs:  # the logout has returned: nothing from that session works
            assert not await is_live(client, pair)


async def test_sign_out_everywhere_racing_logins_leaves_no_half_session(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    caller = await register_and_login(client)
    logins = [login_from(app, f"192.0.2.{index}") for index in range(10)]
    everywhere = client.post("/auth/logout-all", headers=bearer(caller["access_token"]))
    *created, signed_out = await asyncio.gather(*logins, everywhere)
    no_server_errors(*created, signed_out)
    assert signed_out.status_code == 204
    assert all(response.status_code == 200 for response in created)
    assert not await is_live(client, caller)
    live = [await is_live(client, response.json()) for response in created]
    # Each racing session is wholly live or wholly refused, and a later login always works.
    assert len(live) == len(created)
    assert await is_live(client, (await login(client)).json())


async def test_a_mixed_burst_never_answers_500(client: httpx.AsyncClient, app: FastAPI) -> None:
    """On SQLite this is the "database is locked" check: writers queue, none fails."""
    pairs = [await register_and_login(client, register=not index) for index in range(5)]
    work = []
    for pair in pairs:
        work += [refresh(client, pair["refresh_token"]) for _ in range(8)]
        work.append(client.get("/auth/me", headers=bearer(pair["access_token"])))
    work += [login_from(app, f"192.0.2.{index}") for index in range(10)]
    work.append(client.post("/auth/logout", headers=bearer(pairs[0]["access_token"])))
    responses = await asyncio.gather(*work)
    no_server_errors(*responses)
    assert {r.status_code for r in responses} <= {200, 204, 401}
