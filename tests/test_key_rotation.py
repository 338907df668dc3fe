"""The signing-key lifecycle: next → active → retiring → retired, on demand, on a schedule,
and the emergency rotation that contains a leaked key in one command.

Two instances share one store in most tests (the same SQLite file with the same-host feed,
or PostgreSQL with the Redis feed), because a rotation that only the rotating instance
notices is no rotation at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

import httpx
import jwt
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.errors import (
    KeyOperationRefused,
    KeyRetired,
    SessionJWTError,
    SessionRevoked,
)
from sessionjwt.keys.ring import KeyRing
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD


@asynccontextmanager
async def two_instances(
    settings: Settings, clock: ManualClock
) -> AsyncIterator[tuple[SessionJWT, SessionJWT]]:
    async with (
        SessionJWT(settings, clock=clock) as here,
        SessionJWT(settings, clock=clock) as there,
    ):
        yield here, there


async def eventually_refused(
    check: Callable[[], Awaitable[object]],
    error: type[SessionJWTError] | tuple[type[SessionJWTError], ...],
) -> SessionJWTError:
    """The other instance hears the Redis message a few ms after the call returned."""
    for _ in range(100):
        try:
            await check()
        except error as refused:
            return refused
        await asyncio.sleep(0.01)
    pytest.fail(f"still accepted after 1 s; expected {error}")


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def signed_in(auth: SessionJWT, email: str = "alice@example.com") -> tuple[str, str]:
    if await auth.users.find_by_email(email) is None:
        await auth.register(email, PASSWORD)
    pair = await auth.login(email, PASSWORD)
    return pair.access_token, pair.refresh_token


@pytest.fixture
def rotating(settings: Settings) -> Settings:
    """Keys promotable as soon as they exist (the publish-ahead rule has its own test)."""
    return settings.model_copy(update={"key_publish_ahead": timedelta(0)})


async def test_rotation_promotes_the_published_key_and_old_tokens_keep_working(
    rotating: Settings, clock: ManualClock
) -> None:
    async with two_instances(rotating, clock) as (here, there):
        old_token, _ = await signed_in(here)
        before = here.key_ring()
        published = next(key.kid for key in before if key.state == "next")

        rotation = await here.rotate_keys()

        assert rotation.retired_kid == before.active.kid
        assert rotation.active_kid == published  # the key verifiers already had
        assert kid_of((await here.login("alice@example.com", PASSWORD)).access_token) == published
        states = {key.kid: key.state for key in here.key_ring()}
        assert states == {
            before.active.kid: "retiring",
            published: "active",
            rotation.next_kid: "next",
        }
        # No session ends with a normal rotation: tokens of the old key verify everywhere.
        await here.check(old_token)
        await there.check(old_token)
        # The other instance signs with the new key once it has heard of the rotation.
        for _ in range(100):
            if there.key_ring().active.kid == published:
                break
            await there.check(old_token)
            await asyncio.sleep(0.01)
        assert kid_of((await there.login("alice@example.com", PASSWORD)).access_token) == published


async def test_a_key_published_too_recently_is_not_promoted_unless_forced(
    auth: SessionJWT,
) -> None:
    with pytest.raises(KeyOperationRefused, match="key_publish_ahead"):
        await auth.rotate_keys()
    rotation = await auth.rotate_keys(force=True)
    assert auth.key_ring().active.kid == rotation.active_kid


async def test_a_retiring_key_retires_once_its_last_token_expired(
    rotating: Settings, clock: ManualClock
) -> None:
    async with SessionJWT(rotating, clock=clock) as auth:
        old_token, _ = await signed_in(auth)
        rotation = await auth.rotate_keys()
        assert auth.keys is not None
        lifetime = rotating.access_token_ttl + rotating.leeway
        clock.advance(lifetime.total_seconds() - 1)
        await auth.keys.tend()
        assert rotation.retired_kid in {key.kid for key in auth.key_ring()}
        clock.advance(1)
        await auth.keys.tend()
        assert auth.key_ring().is_retired(str(rotation.retired_kid))
        assert rotation.retired_kid not in {
            jwk["kid"] for jwk in auth.key_ring().public_jwks()["keys"]
        }
        with pytest.raises(KeyRetired):  # whatever its exp says, its key is gone
            await auth.check(old_token)


async def test_retire_refuses_that_keys_tokens_on_every_instance_at_once(
    rotating: Settings, clock: ManualClock
) -> None:
    async with two_instances(rotating, clock) as (here, there):
        old_token, _ = await signed_in(here)
        await there.check(old_token)  # warm there
        active = here.key_ring().active.kid
        with pytest.raises(KeyOperationRefused, match="rotate first"):
            await here.retire_key(active)
        with pytest.raises(KeyOperationRefused, match="no key"):
            await here.retire_key("never-existed")

        rotation = await here.rotate_keys()
        await here.retire_key(str(rotation.retired_kid))

        with pytest.raises(KeyRetired):
            await here.check(old_token)
        await eventually_refused(lambda: there.check(old_token), KeyRetired)
        events = await here.audit.query(event="key_retired")
        assert [(event.detail or {}).get("kid") for event in events] == [rotation.retired_kid]


async def test_emergency_rotation_refuses_every_earlier_session_and_key_everywhere(
    settings: Settings, clock: ManualClock
) -> None:
    async with two_instances(settings, clock) as (here, there):
        alice_access, alice_refresh = await signed_in(here)
        bob_access, _ = await signed_in(there, "bob@example.com")
        for token in (alice_access, bob_access):
            await here.check(token)
            await there.check(token)
        old_kids = {key.kid for key in here.key_ring()}

        clock.advance(1)
        rotation = await here.rotate_keys(revoke_all=True, actor="cli")

        assert old_kids.isdisjoint({rotation.active_kid, rotation.next_kid})
        for token in (alice_access, bob_access):
            with pytest.raises(KeyRetired):
                await here.check(token)
            # There, the key message or the watermark message may land first: both refuse.
            await eventually_refused(partial(there.check, token), (KeyRetired, SessionRevoked))
        with pytest.raises(SessionRevoked):  # the refresh token cannot mint a new-key token
            await here.refresh(alice_refresh)
        bob = await here.users.find_by_email("bob@example.com")
        assert bob is not None and await here.list_sessions(bob.id) == []

        # A fresh login on one instance is accepted by the other at once: the unknown kid
        # makes it reload the ring instead of refusing.
        clock.advance(1)
        fresh, _ = await signed_in(here)
        assert kid_of(fresh) == rotation.active_kid
        assert (await there.check(fresh)).email == "alice@example.com"
        [event] = await here.audit.query(event="emergency_key_rotation")
        assert event.actor == "cli" and (event.detail or {}).get("retired_all") is True


async def test_the_schedule_rotates_once_however_many_instances_run_it(
    settings: Settings, clock: ManualClock
) -> None:
    scheduled = settings  # the defaults: 30-day interval, published an hour ahead
    async with two_instances(scheduled, clock) as (here, there):
        assert here.keys is not None and there.keys is not None
        first = here.key_ring().active.kid
        clock.advance(scheduled.key_publish_ahead.total_seconds())
        await asyncio.gather(here.keys.tend(), there.keys.tend())
        assert here.key_ring().active.kid == first  # not due yet

        clock.advance(scheduled.key_rotation_interval.total_seconds())
        await asyncio.gather(here.keys.tend(), there.keys.tend())
        await asyncio.gather(here.keys.tend(), there.keys.tend())
        assert here.key_ring().active.kid != first
        assert there.key_ring().active.kid == here.key_ring().active.kid
        assert len(await here.audit.query(event="key_rotated")) == 1


async def test_a_token_whose_kid_was_never_published_costs_no_more_than_one_reload_a_second(
    auth: SessionJWT, client: httpx.AsyncClient
) -> None:
    token, _ = await signed_in(auth)
    _, payload, signature = token.split(".")
    forged_header = jwt.utils.base64url_encode(
        b'{"alg":"EdDSA","kid":"attacker-kid","typ":"at+jwt"}'
    ).decode()
    forged = f"{forged_header}.{payload}.{signature}"
    assert auth.keys is not None
    reloads = 0
    original = auth.keys.load

    async def counting_load() -> KeyRing:
        nonlocal reloads
        reloads += 1
        return await original()

    auth.keys.load = counting_load  # type: ignore[method-assign]
    for _ in range(20):
        response = await client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
    assert reloads <= 1


async def test_http_refusal_for_a_retired_key_is_documented_401_key_retired(
    rotating: Settings, clock: ManualClock
) -> None:
    async with SessionJWT(rotating, clock=clock) as auth:
        token, _ = await signed_in(auth)
        rotation = await auth.rotate_keys()
        await auth.retire_key(str(rotation.retired_kid))
        transport = httpx.ASGITransport(app=create_app(auth=auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "key_retired"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_admin_api_rotates_retires_and_contains_a_breach(
    auth: SessionJWT, client: httpx.AsyncClient
) -> None:
    await auth.register("root@example.com", PASSWORD, roles=("admin",))
    admin = {
        "Authorization": f"Bearer {(await auth.login('root@example.com', PASSWORD)).access_token}"
    }
    user_token, _ = await signed_in(auth)
    user = {"Authorization": f"Bearer {user_token}"}

    refused = await client.post("/admin/keys/rotate", json={}, headers=user)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_role"
    assert (await client.get("/admin/keys")).status_code == 401

    listed = (await client.get("/admin/keys", headers=admin)).json()
    assert sorted(key["state"] for key in listed) == ["active", "next"]
    active = next(key["kid"] for key in listed if key["state"] == "active")
    conflict = await client.post(f"/admin/keys/{active}/retire", headers=admin)
    assert conflict.status_code == 409 and conflict.json()["error"] == "key_operation_refused"
    too_soon = await client.post("/admin/keys/rotate", json={}, headers=admin)
    assert too_soon.status_code == 409

    breach = await client.post("/admin/keys/rotate", json={"revoke_all": True}, headers=admin)
    assert breach.status_code == 200, breach.text
    assert breach.json()["retired_kid"] == active
    for headers in (user, admin):  # every earlier token, the admin's own included
        response = await client.get("/auth/me", headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "key_retired"
