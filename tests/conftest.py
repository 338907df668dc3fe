"""Shared fixtures: a fresh SQLite-backed service per test, a manual clock, an HTTP client."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.db.migrate import upgrade
from sessionjwt.server.app import create_app
from tests import backends

SKIPPED_BACKENDS: list[str] = []
T0 = 1_800_000_000.0  # 2027-01-15: fixed so tests never depend on the wall clock
PASSWORD = "correct horse battery staple"
ISSUER = "https://auth.example.test"
AUDIENCE = "https://api.example.test"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        # Cheap hashing keeps the suite fast; production defaults are tested separately.
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
        "argon2_parallelism": 1,
        "login_rate_limit_ip": "1000/minute",
        "refresh_rate_limit_ip": "1000/minute",
        "register_rate_limit_ip": "1000/minute",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _require(reason: str | None) -> None:
    if reason is not None:
        if backends.IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        SKIPPED_BACKENDS.append(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole run (tables truncated per test)."""
    _require(backends.postgres_unavailable_reason())
    name, url = backends.create_database()
    try:
        asyncio.run(upgrade(url))
        yield url
    finally:
        backends.drop_database(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    _require(backends.redis_unavailable_reason())
    return backends.REDIS_URL


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ],
)
def backend(request: pytest.FixtureRequest) -> dict[str, object]:
    """Every test that asks for ``settings`` runs once per deployment shape: the zero-set-up
    SQLite default (same-host feed), and PostgreSQL with the Redis feed and rate limits."""
    if request.param == "sqlite":
        return {}
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(backends.truncate_all(url))
    return {
        "database_url": url,
        "redis_url": request.getfixturevalue("redis_url"),
        # Channels and limit keys of concurrent tests (and runs) must not meet.
        "redis_namespace": f"sjtest-{secrets.token_hex(6)}",
    }


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object]) -> Settings:
    return make_settings(tmp_path, **backend)


@pytest.fixture
async def auth(settings: Settings, clock: ManualClock) -> AsyncIterator[SessionJWT]:
    service = SessionJWT(settings, clock=clock)
    await service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def app(auth: SessionJWT) -> FastAPI:
    return create_app(auth=auth)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def register_and_login(
    client: httpx.AsyncClient,
    email: str = "alice@example.com",
    password: str = PASSWORD,
    user_agent: str = "pytest-device/1.0",
    *,
    register: bool = True,
) -> dict[str, Any]:
    """Register (optionally) and log in over HTTP; the login response body."""
    if register:
        created = await client.post("/auth/register", json={"email": email, "password": password})
        assert created.status_code == 201, created.text
    response = await client.post(
        "/auth/login",
        json={"email": email, "password": password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the loud summary of what was skipped, also under pytest-xdist ------------------------------
#
# ``_require`` appends to ``SKIPPED_BACKENDS`` in the process running the test. Under xdist that
# is a worker, whose globals the controller printing the summary never sees; so each reason is
# also attached to the report of the test that met it first (reports travel to the controller),
# and the summary reads the reasons back from the reports.

SKIPPED_BACKEND_PROPERTY = "skipped_backend"
_reported_skips: set[str] = set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    for reason in dict.fromkeys(SKIPPED_BACKENDS):
        if reason not in _reported_skips:
            _reported_skips.add(reason)
            report.user_properties.append((SKIPPED_BACKEND_PROPERTY, reason))
    return report


def _skipped_backend_reasons(terminalreporter: pytest.TerminalReporter) -> list[str]:
    reasons: list[str] = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == SKIPPED_BACKEND_PROPERTY:
                    reasons.append(str(value))
    return list(dict.fromkeys([*SKIPPED_BACKENDS, *reasons]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reasons = _skipped_backend_reasons(terminalreporter)
    if reasons:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            "Tests needing PostgreSQL, Redis or Chromium were SKIPPED: " + "; ".join(reasons),
            red=True,
            bold=True,
        )
        terminalreporter.write_line(bar, red=True, bold=True)
