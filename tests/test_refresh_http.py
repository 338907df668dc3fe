"""Refresh-token rotation over HTTP (and at the core where concurrency is the point): one
successor per token, replays revoke the session, forgeries revoke nothing, expiry wins."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from sessionjwt import ManualClock, RefreshTokenReused, SessionJWT, SessionRevoked, Settings
from sessionjwt.errors import InvalidToken
from tests.conftest import bearer, register_and_login


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


async def rotated(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await refresh(client, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get("/auth/me", headers=bearer(access_token))


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


async def assert_session_dead(client: httpx.AsyncClient, *pairs: dict[str, Any]) -> None:
    for pair in pairs:
        assert_error(await me(client, pair["access_token"]), 401, "session_revoked")
        assert (await refresh(client, pair["refresh_token"])).status_code == 401


async def assert_session_live(client: httpx.AsyncClient, pair: dict[str, Any]) -> None:
    assert (await me(client, pair["access_token"])).status_code == 200
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


# -- rotation ----------------------------------------------------------------------------------


async def test_refresh_rotates_within_the_same_session(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = await register_and_login(client)
    clock.advance(60)
    second = await rotated(client, first)

    assert second["session_id"] == first["session_id"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["refresh_token"].startswith(first["session_id"] + ".")
    assert second["access_token"] != first["access_token"]
    assert second["token_type"] == "Bearer"
    now = await me(client, second["access_token"])
    assert now.status_code == 200
    assert now.json()["session_id"] == first["session_id"]
    # The old access token still points at a live session until its own expiry.
    assert (await me(client, first["access_token"])).status_code == 200


async def test_old_access_token_expires_on_its_own_schedule(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    first = await register_and_login(client)
    clock.advance(settings.access_token_ttl.total_seconds() / 2)
    second = await rotated(client, first)
    clock.advance(settings.access_token_ttl.total_seconds() / 2 + settings.leeway.total_seconds())
    assert_error(await me(client, first["access_token"]), 401, "token_expired")
    assert (await me(client, second["access_token"])).status_code == 200


async def test_refresh_response_is_not_cacheable(client: httpx.AsyncClient) -> None:
    first = await register_and_login(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


# -- replay detection ---------------------------------------------------------------------------


async def test_replay_after_the_grace_window_revokes_the_whole_session(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    first = await register_and_login(client)
    bystander = await register_and_login(client, "bob@example.com")
    second = await rotated(client, first)
    clock.advance(settings.refresh_grace.total_seconds() + 1)

    replay = await refresh(client, first["refresh_token"])
    assert_error(replay, 401, "refresh_token_reused")

    assert_error(await me(client, second["access_token"]), 401, "session_revoked")
    assert_error(await refresh(client, second["refresh_token"]), 401, "session_revoked")
    assert_error(await me(client, first["access_token"]), 401, "session_revoked")
    events = await auth.audit.query(event="refresh_reuse_detected")
    assert [event.session_id for event in events] == [first["session_id"]]
    # Only that session: another user's session is untouched.
    await assert_session_live(client, bystander)


async def test_previous_token_within_grace_gets_the_same_successor(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    first = await register_and_login(client)
    second = await rotated(client, first)
    clock.advance(settings.refresh_grace.total_seconds() - 1)

    again = await rotated(client, first)
    assert again["refresh_token"] == second["refresh_token"]
    assert again["session_id"] == first["session_id"]
    assert (await me(client, again["access_token"])).status_code == 200
    assert await auth.audit.query(event="refresh_reuse_detected") == []
    # One chain: the shared successor rotates normally.
    third = await rotated(client, second)
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert (await me(client, third["access_token"])).status_code == 200


async def test_a_token_two_generations_old_is_reuse_even_within_grace(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    first = await register_and_login(client)
    second = await rotated(client, first)
    third = await rotated(client, second)

    assert_error(await refresh(client, first["refresh_token"]), 401, "refresh_token_reused")
    await assert_session_dead(client, third)
    assert len(await auth.audit.query(event="refresh_reuse_detected")) == 1


# -- forgeries ---------------------------------------------------------------------------------


async def test_a_forged_secret_for_a_real_session_revokes_nothing(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    tokens = await register_and_login(client)
    forged = f"{tokens['session_id']}.{secrets.token_urlsafe(32)}"
    assert len(forged.split(".")[1]) == 43
    assert_error(await refresh(client, forged), 401, "invalid_token")
    await assert_session_live(client, tokens)
    assert await auth.audit.query(event="refresh_reuse_detected") == []


async def test_a_real_secret_under_another_session_id_revokes_nothing(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    alice = await register_and_login(client)
    bob = await register_and_login(client, "bob@example.com")
    secret = alice["refresh_token"].split(".", 1)[1]

    unknown = secrets.token_urlsafe(24)
    assert_error(await refresh(client, f"{unknown}.{secret}"), 401, "invalid_token")
    assert_error(await refresh(client, f"{bob['session_id']}.{secret}"), 401, "invalid_token")

    await assert_session_live(client, alice)
    await assert_session_live(client, bob)
    assert await auth.audit.query(event="refresh_reuse_detected") == []


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("x", 401, "invalid_token"),
        ("a" * 32 + "." + "b" * 42, 401, "invalid_token"),
        ("a" * 32 + "." + "b" * 44, 401, "invalid_token"),
        ("", 422, "validation_error"),
        ("a" * 32 + "." + "b" * 500, 401, "invalid_token"),  # token-shaped: the parser's call
        ("b" * 65537, 413, "request_too_large"),  # past any token: the body is refused
    ],
)
async def test_malformed_refresh_tokens_are_refused(
    client: httpx.AsyncClient, token: str, status: int, code: str
) -> None:
    assert_error(await refresh(client, token), status, code)


async def test_logout_with_the_pre_refresh_access_token_ends_the_refreshed_pair_too(
    client: httpx.AsyncClient,
) -> None:
    first = await register_and_login(client)
    second = await rotated(client, first)
    logout = await client.post("/auth/logout", headers=bearer(first["access_token"]))
    assert logout.status_code == 204
    await assert_session_dead(client, first, second)


# -- concurrency --------------------------------------------------------------------------------


async def test_two_concurrent_refreshes_share_one_successor(client: httpx.AsyncClient) -> None:
    first = await register_and_login(client)
    responses = await asyncio.gather(
        refresh(client, first["refresh_token"]), refresh(client, first["refresh_token"])
    )
    assert [response.status_code for response in responses] == [200, 200]
    successors = {response.json()["refresh_token"] for response in responses}
    assert len(successors) == 1
    (successor,) = successors
    assert successor != first["refresh_token"]

    following = await refresh(client, successor)
    assert following.status_code == 200
    assert (await me(client, following.json()["access_token"])).status_code == 200


async def test_twenty_concurrent_refreshes_over_http_share_one_successor(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    first = await register_and_login(client)
    responses = await asyncio.gather(*(refresh(client, first["refresh_token"]) for _ in range(20)))
    assert [response.status_code for response in responses] == [200] * 20
    assert len({response.json()["refresh_token"] for response in responses}) == 1
    assert await auth.audit.query(event="refresh_reuse_detected") == []
    refreshes = await auth.audit.query(event="refresh")
    assert len(refreshes) == 1  # exactly one rotation happened
    await assert_session_live(client, responses[0].json())


async def test_twenty_concurrent_refreshes_at_the_core_share_one_successor(
    auth: SessionJWT,
) -> None:
    await auth.register("alice@example.com", "correct horse battery staple")
    pair = await auth.login("alice@example.com", "correct horse battery staple")
    results = await asyncio.gather(*(auth.refresh(pair.refresh_token) for _ in range(20)))
    assert len({result.refresh_token for result in results}) == 1
    assert {result.session_id for result in results} == {pair.session_id}
    principal = await auth.check(results[-1].access_token)
    assert principal.session_id == pair.session_id
    following = await auth.refresh(results[0].refresh_token)
    assert following.refresh_token != results[0].refresh_token


async def test_refresh_racing_logout_leaves_no_working_token(client: httpx.AsyncClient) -> None:
    tokens = await register_and_login(client)
    refreshed, logged_out = await asyncio.gather(
        refresh(client, tokens["refresh_token"]),
        client.post("/auth/logout", headers=bearer(tokens["access_token"])),
    )
    assert logged_out.status_code == 204
    pairs = [tokens]
    if refreshed.status_code == 200:
        pairs.append(refreshed.json())
    else:
        assert_error(refreshed, 401, "session_revoked")
    await assert_session_dead(client, *pairs)


async def test_refresh_racing_logout_at_the_core(auth: SessionJWT) -> None:
    await auth.register("alice@example.com", "correct horse battery staple")
    pair = await auth.login("alice@example.com", "correct horse battery staple")
    principal = await auth.check(pair.access_token)
    outcomes = await asyncio.gather(
        auth.refresh(pair.refresh_token), auth.logout(principal), return_exceptions=True
    )
    tokens = [pair]
    if isinstance(outcomes[0], BaseException):
        assert isinstance(outcomes[0], SessionRevoked)
    else:
        tokens.append(outcomes[0])
    assert outcomes[1] is None
    for token in tokens:
        with pytest.raises(SessionRevoked):
            await auth.check(token.access_token)
        with pytest.raises((SessionRevoked, RefreshTokenReused, InvalidToken)):
            await auth.refresh(token.refresh_token)


# -- expiry ------------------------------------------------------------------------------------


async def test_refresh_after_the_absolute_lifetime_is_session_expired(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    tokens = await register_and_login(client)
    lifetime = settings.session_lifetime.total_seconds()
    step = settings.session_idle_timeout.total_seconds() / 2
    elapsed = 0.0
    while elapsed + step < lifetime:  # kept busy: only the absolute lifetime can end it
        clock.advance(step)
        elapsed += step
        tokens = await rotated(client, tokens)
    clock.advance(lifetime - elapsed - 1)
    tokens = await rotated(client, tokens)  # one second left: still refreshable
    assert tokens["refresh_expires_in"] == 1
    assert tokens["expires_in"] == 1  # the access token never outlives its session
    clock.advance(1)
    assert_error(await refresh(client, tokens["refresh_token"]), 401, "session_expired")
    assert_error(await me(client, tokens["access_token"]), 401, "session_expired")


async def test_refresh_after_the_idle_timeout_is_session_expired(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    idle = settings.session_idle_timeout.total_seconds()
    busy = await register_and_login(client)
    unused = await register_and_login(client, register=False)

    clock.advance(idle - 1)
    busy = await rotated(client, busy)  # just inside: still live, and now recently used
    clock.advance(2)
    assert_error(await refresh(client, unused["refresh_token"]), 401, "session_expired")
    assert (await me(client, busy["access_token"])).status_code == 200
    await rotated(client, busy)
