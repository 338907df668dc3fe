"""Escalating delay between failed logins, and no lockout of the real user (ASVS 5.0 §6.1.1,
§6.3.1). Time is a ManualClock: waits are passed by advancing it, never by sleeping."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.accounts.backoff import BackoffPolicy
from sessionjwt.accounts.backoff_redis import RedisBackoff
from sessionjwt.errors import StoreUnavailable
from sessionjwt.server.app import create_app
from tests.cluster.harness import ThrowawayRedis
from tests.conftest import PASSWORD, make_settings
from tests.test_sessions_http import assert_error, connect, login, retry_after

ATTACKER = "198.51.100.66"
USER = "203.0.113.7"
WRONG = "wrong password!"
CAP = 900


@asynccontextmanager
async def service(settings: Settings, clock: ManualClock) -> AsyncIterator[SessionJWT]:
    async with SessionJWT(settings, clock=clock) as auth:
        yield auth


@asynccontextmanager
async def http_from(auth: SessionJWT, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(create_app(auth=auth), peer) as http:
        yield http


async def register(auth: SessionJWT, email: str = "alice@example.com") -> None:
    await auth.register(email, PASSWORD)


async def fail_until_refused(http: httpx.AsyncClient) -> int:
    """Fail until refused; the Retry-After of the refusal."""
    for _ in range(30):
        response = await login(http, password=WRONG)
        if response.status_code == 429:
            return retry_after(response)
        assert_error(response, 401, "invalid_credentials")
    raise AssertionError("never throttled")


async def test_the_wait_doubles_with_each_failure_and_stops_at_the_cap(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, **backend, login_failures_per_account="1000/hour")
    async with service(settings, clock) as auth, http_from(auth, ATTACKER) as http:
        await register(auth)
        waits = []
        for _ in range(13):
            wait = await fail_until_refused(http)
            waits.append(wait)
            clock.advance(wait - 1)
            assert_error(await login(http), 429, "rate_limited")  # not a second early
            clock.advance(1)
        assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, CAP, CAP, CAP]
        # Once the wait has passed, the right password works and clears the count.
        assert (await login(http)).status_code == 200
        assert await fail_until_refused(http) == 1


async def test_free_failures_come_first_and_a_success_resets_the_count(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, **backend)
    async with service(settings, clock) as auth, http_from(auth, USER) as http:
        await register(auth)
        for _ in range(settings.login_backoff_free_failures):
            assert_error(await login(http, password=WRONG), 401, "invalid_credentials")
        assert_error(await login(http), 429, "rate_limited")
        clock.advance(1)
        assert (await login(http)).status_code == 200
        for _ in range(settings.login_backoff_free_failures):
            assert_error(await login(http, password=WRONG), 401, "invalid_credentials")


async def test_an_attacker_elsewhere_cannot_keep_the_real_user_out(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, **backend, login_failures_per_account="4/hour")
    async with (
        service(settings, clock) as auth,
        http_from(auth, ATTACKER) as attacker,
        http_from(auth, USER) as user,
        http_from(auth, "192.0.2.99") as fresh_device,
    ):
        await register(auth)
        # The attacker guesses past the per-account ceiling: from then on the attacker's
        # address waits the full cap after every failure.
        assert await fail_until_refused(attacker) == 1
        clock.advance(1)
        assert await fail_until_refused(attacker) == CAP
        # The real user typed a wrong password once while under attack: a bounded wait...
        assert_error(await login(user, password=WRONG), 401, "invalid_credentials")
        refused = await login(user)
        assert_error(refused, 429, "rate_limited")
        assert retry_after(refused) == CAP
        # ...through which the attacker keeps trying, and is refused every time.
        for _ in range(10):
            clock.advance(CAP / 10)
            response = await login(attacker, password=WRONG)
            if response.status_code == 401:  # one guess per cap, never more
                assert_error(await login(attacker, password=WRONG), 429, "rate_limited")
        # When the wait is over the real user signs in, attack or not.
        assert (await login(user)).status_code == 200
        # A device that never failed was never held back.
        assert (await login(fresh_device)).status_code == 200


async def test_unknown_and_known_accounts_are_throttled_alike(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, **backend)
    async with service(settings, clock) as auth, http_from(auth, ATTACKER) as http:
        await register(auth)
        answers = {}
        for email in ("alice@example.com", "nobody@example.com"):
            statuses = []
            for _ in range(5):
                response = await login(http, email=email, password=WRONG)
                statuses.append(
                    (response.status_code, response.json(), retry_after_or_none(response))
                )
            answers[email] = statuses
        assert answers["alice@example.com"] == answers["nobody@example.com"]


def retry_after_or_none(response: httpx.Response) -> int | None:
    return retry_after(response) if response.status_code == 429 else None


@pytest.mark.postgres
@pytest.mark.redis
async def test_the_count_is_shared_by_every_instance(
    tmp_path: Path, postgres_url: str, redis_url: str, clock: ManualClock
) -> None:
    import secrets

    from tests import backends

    await backends.truncate_all(postgres_url)
    settings = make_settings(
        tmp_path,
        database_url=postgres_url,
        redis_url=redis_url,
        redis_namespace=f"sjtest-{secrets.token_hex(6)}",
    )
    async with (
        service(settings, clock) as first,
        service(settings, clock) as second,
        http_from(first, ATTACKER) as one,
        http_from(second, ATTACKER) as two,
    ):
        await register(first)
        for http in (one, two, one):  # the free failures, spread over both instances
            assert_error(await login(http, password=WRONG), 401, "invalid_credentials")
        for http in (two, one):
            refused = await login(http)
            assert_error(refused, 429, "rate_limited")
            assert retry_after(refused) == 1
        clock.advance(1)
        assert_error(await login(two, password=WRONG), 401, "invalid_credentials")
        assert retry_after(await login(one)) == 2
        clock.advance(2)
        assert (await login(one)).status_code == 200  # success on one instance...
        for http in (two, one, two):  # ...resets the count on the other
            assert_error(await login(http, password=WRONG), 401, "invalid_credentials")


@pytest.mark.redis
async def test_redis_down_refuses_logins_with_503_never_falling_back_to_memory(
    tmp_path: Path, clock: ManualClock
) -> None:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis(executable, tmp_path / "redis.log")
    server.start()
    try:
        settings = make_settings(tmp_path, redis_url=server.url, redis_namespace="sjtest-down")
        async with service(settings, clock) as auth, http_from(auth, USER) as http:
            await register(auth)
            assert (await login(http)).status_code == 200
            server.kill()
            for email in ("alice@example.com", "nobody@example.com"):
                down = await login(http, email=email)
                assert_error(down, 503, "store_unavailable")
                assert down.headers["Retry-After"] == "1"
    finally:
        server.kill()


@pytest.mark.redis
async def test_the_redis_backoff_store_itself_fails_closed(tmp_path: Path) -> None:
    from redis.asyncio import Redis

    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis(executable, tmp_path / "redis.log")
    server.start()
    client = Redis.from_url(server.url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        store = RedisBackoff(client, BackoffPolicy(1, 900, 86400), prefix="sjtest-store")
        assert await store.claim("pair", 0.0, at_cap=False) == 0.0
        server.kill()
        with pytest.raises(StoreUnavailable):
            await store.claim("pair", 1.0, at_cap=False)
        with pytest.raises(StoreUnavailable):
            await store.reset("pair")
    finally:
        server.kill()
        await client.aclose()
