"""``/metrics`` moves with what happens; ``/readyz`` names the dependency that is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.errors import InvalidCredentials
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, bearer, make_settings, register_and_login
from tests.ops import scrape, value

CLOSED_PORT = 9  # discard: nothing listens there on the test machines


async def test_check_outcomes_liveness_and_latency_are_counted(
    client: httpx.AsyncClient,
) -> None:
    body = await register_and_login(client)
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/auth/me", headers=bearer(body["access_token"]))).is_success
    assert (await client.get("/auth/me", headers=bearer("not.a.token"))).status_code == 401
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("sessionjwt_checks_total", outcome="ok") == 3
    assert delta("sessionjwt_checks_total", outcome="invalid_token") == 1
    assert (
        delta("sessionjwt_liveness_lookups_total", result="hit")
        + delta("sessionjwt_liveness_lookups_total", result="miss")
        == 3
    )
    assert delta("sessionjwt_check_duration_seconds_count") == 4
    assert value(after, "sessionjwt_check_duration_seconds_sum") > 0
    assert value(after, "sessionjwt_signing_key_age_seconds") >= 0
    assert value(after, "sessionjwt_feed_healthy") == 1


async def test_login_failures_revocations_and_reuse_are_counted(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    body = await register_and_login(client)
    failed = await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": "wrong password"}
    )
    assert failed.status_code == 401
    metrics = await scrape(client)
    assert value(metrics, "sessionjwt_login_failures_total") == 1

    logout = await client.post("/auth/logout", headers=bearer(body["access_token"]))
    assert logout.status_code == 204
    metrics = await scrape(client)
    assert value(metrics, "sessionjwt_revocations_total", reason="logout") == 1

    second = await register_and_login(client, register=False)
    first_use = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert first_use.is_success
    clock.advance(settings.refresh_grace.total_seconds() + 1)
    replay = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert replay.json()["error"] == "refresh_token_reused"
    metrics = await scrape(client)
    assert value(metrics, "sessionjwt_refresh_reuse_detections_total") == 1
    assert value(metrics, "sessionjwt_revocations_total", reason="refresh_reuse") == 1


@pytest.fixture
async def strict_client(tmp_path: Path, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, login_failures_per_account="2/15 minutes")
    async with SessionJWT(settings, clock=clock) as auth:
        transport = httpx.ASGITransport(app=create_app(auth=auth), client=("203.0.113.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_rate_limit_refusals_are_counted_by_limit(strict_client: httpx.AsyncClient) -> None:
    await register_and_login(strict_client)
    statuses = [
        (
            await strict_client.post(
                "/auth/login", json={"email": "alice@example.com", "password": "wrong password"}
            )
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    metrics = await scrape(strict_client)
    assert value(metrics, "sessionjwt_rate_limit_refusals_total", limit="login-account") == 1
    assert value(metrics, "sessionjwt_login_failures_total") == 2


async def test_each_instance_has_its_own_registry(tmp_path: Path, clock: ManualClock) -> None:
    """Two services in one process: no duplicate-timeseries error, no shared numbers."""
    async with (
        SessionJWT(make_settings(tmp_path / "a"), clock=clock) as one,
        SessionJWT(make_settings(tmp_path / "b"), clock=clock) as two,
    ):
        await one.register("alice@example.com", PASSWORD)
        with pytest.raises(InvalidCredentials):
            await one.login("alice@example.com", "wrong password")
        for auth, failures in ((one, 1.0), (two, 0.0)):
            transport = httpx.ASGITransport(app=create_app(auth=auth))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                metrics = await scrape(http)
                assert value(metrics, "sessionjwt_login_failures_total") == failures


async def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, metrics_enabled=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        # Unknown paths are refused by the default-deny guard, like any other.
        assert (await http.get("/metrics")).status_code == 401


async def test_ready_when_everything_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"].values()) == {"ok"}
    assert (await client.get("/healthz")).status_code == 200


async def _readyz(settings: Settings) -> httpx.Response:
    auth = SessionJWT(settings)  # not started: it could not start, which is the point
    try:
        transport = httpx.ASGITransport(app=create_app(auth=auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/healthz")).status_code == 200  # the process is alive
            return await http.get("/readyz")
    finally:
        await auth.close()


async def test_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{CLOSED_PORT}/sessionjwt"
    response = await _readyz(make_settings(tmp_path, database_url=url, invalidation="host"))
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "checks": {"database": "unreachable"}}


async def test_not_ready_when_redis_is_unreachable(tmp_path: Path) -> None:
    redis = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    response = await _readyz(make_settings(tmp_path, redis_url=redis, invalidation="host"))
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "unreachable"}

    response = await _readyz(make_settings(tmp_path, redis_url=redis))  # the Redis feed too
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"] == "unreachable" and checks["feed"].startswith("stale")
