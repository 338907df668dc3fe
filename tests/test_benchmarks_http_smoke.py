"""The apps `benchmarks/http_throughput.py` loads with wrk still answer as the benchmark
assumes: 200 with their token, 401 without it (so the load really goes through each
authentication path).

In process over ASGI: no wrk, no uvicorn, and no timing asserted. The rows on Redis and
PostgreSQL run only when those servers are reachable and are skipped otherwise, even in CI:
these are benchmark helpers, not product tests (the product runs on both in its own suite).

No ``from __future__ import annotations``, like the apps it loads.
"""

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from benchmarks import common, http_apps
from benchmarks import http_throughput as bench
from fastapi import FastAPI

from sessionjwt.db.migrate import upgrade
from tests import backends

SetEnv = Callable[[Mapping[str, str]], None]


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """Replace the benchmark's variables (and the caller's SESSIONJWT_*) for this test only."""
    for name in list(os.environ):
        if name.startswith(("SESSIONJWT_", "SJBENCH_")):
            monkeypatch.delenv(name)

    def apply(env: Mapping[str, str]) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return apply


@pytest.fixture(scope="module")
def redis_reason() -> str | None:
    return backends.redis_unavailable_reason()


@pytest.fixture(scope="module")
def postgres_reason() -> str | None:
    return backends.postgres_unavailable_reason()


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, as uvicorn would, behind an in-process client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def assert_guarded(
    client: httpx.AsyncClient, token: str, refused: Sequence[str | None]
) -> None:
    answer = await client.get("/hello", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == "hello"
    for bad in refused:
        headers = {"Authorization": f"Bearer {bad}"} if bad else {}
        refusal = await client.get("/hello", headers=headers)
        assert refusal.status_code == 401, (bad, refusal.text)


async def assert_sessionjwt_app_guarded(env: Mapping[str, str], set_env: SetEnv) -> None:
    """The (b) app on ``env``: 200 with a live session's token; 401 without a token, with a
    tampered one, and with a revoked session's."""
    token, revoked = await bench.mint_sessionjwt_tokens(common.settings_from_env(env))
    set_env({**env, http_apps.APP_ENV: "sessionjwt"})
    async with serving(http_apps.app_from_env()) as client:
        await assert_guarded(client, token, [None, bench.tampered(token), revoked])


async def assert_session_looked_up(key: bytes, session_id: str) -> None:
    """The (d) or (e) app, configured and seeded with ``session_id``: 200 with its token; 401
    without a token and with a well-signed token of an unknown session."""
    async with serving(http_apps.app_from_env()) as client:
        await assert_guarded(
            client,
            bench.pyjwt_token(key, session_id),
            [None, bench.pyjwt_token(key, bench.new_session_id())],
        )


async def test_no_auth_app_answers_everyone(set_env: SetEnv) -> None:
    set_env({http_apps.APP_ENV: "none"})

    async with serving(http_apps.app_from_env()) as client:
        answer = await client.get("/hello")

    assert answer.status_code == 200
    assert answer.json() == {"message": "hello", "user": "anonymous"}


async def test_sessionjwt_app_needs_a_live_session(tmp_path: Path, set_env: SetEnv) -> None:
    await assert_sessionjwt_app_guarded(common.server_env(tmp_path), set_env)


async def test_cookie_row_checks_prove_the_cookie_authenticates(
    tmp_path: Path, set_env: SetEnv
) -> None:
    """(b-cookie) as the benchmark prepares it: its token and probes, sent with the very
    headers its checks and wrk send, get 200 with the cookie and 401 otherwise."""
    async with contextlib.AsyncExitStack() as cleanup:
        (target,) = await bench.prepare(["bc"], tmp_path, cleanup)
    assert target.variant.cookie and target.token is not None
    headers = bench.request_headers(target.variant, target.token)
    assert headers == {
        "Sec-Fetch-Site": "same-origin",
        "Cookie": f"__Host-sjwt-access={target.token}",
    }
    assert {probe.name for probe in target.probes} >= {"no token", "tampered token"}

    set_env(target.env)
    async with serving(http_apps.app_from_env()) as client:
        answer = await client.get("/hello", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["message"] == "hello"
        for probe in target.probes:
            refusal = await client.get(
                "/hello", headers=bench.request_headers(target.variant, probe.token)
            )
            assert refusal.status_code == probe.status == 401, (probe.name, refusal.text)


def test_variants_option_takes_the_cookie_row() -> None:
    assert bench.parse_options(["--variants", "bc,a,b"]).variants == ("a", "b", "bc")
    assert bench.parse_options(["--variants", "a,b-cookie"]).variants == ("a", "bc")


async def test_sessionjwt_app_on_postgres_and_redis(
    tmp_path: Path, set_env: SetEnv, postgres_reason: str | None, redis_reason: str | None
) -> None:
    if postgres_reason or redis_reason:
        pytest.skip(postgres_reason or redis_reason or "")
    database = await bench.create_database()
    env: dict[str, str] = {}
    try:
        url = bench.database_dsn(database).replace("postgresql://", "postgresql+asyncpg://")
        await upgrade(url)
        env = common.server_env(tmp_path, url)
        await assert_sessionjwt_app_guarded(env, set_env)
    finally:
        await bench.drop_database(database)
        if "SESSIONJWT_REDIS_NAMESPACE" in env:
            await bench.forget_redis(
                backends.REDIS_URL, namespace=env["SESSIONJWT_REDIS_NAMESPACE"]
            )


async def test_pyjwt_app_needs_a_valid_signature(set_env: SetEnv) -> None:
    key = secrets.token_bytes(32)
    token = bench.pyjwt_token(key, bench.new_session_id())
    foreign = bench.pyjwt_token(secrets.token_bytes(32), bench.new_session_id())
    set_env(bench.pyjwt_env("pyjwt", key))

    async with serving(http_apps.app_from_env()) as client:
        await assert_guarded(client, token, [None, bench.tampered(token), foreign])


async def test_pyjwt_redis_app_needs_the_session_key(
    set_env: SetEnv, redis_reason: str | None
) -> None:
    if redis_reason:
        pytest.skip(redis_reason)
    key, session_id = secrets.token_bytes(32), bench.new_session_id()
    set_env(bench.pyjwt_env("pyjwt-redis", key, **{http_apps.REDIS_ENV: backends.REDIS_URL}))
    await bench.seed_redis(backends.REDIS_URL, session_id, bench.PYJWT_USER)
    try:
        await assert_session_looked_up(key, session_id)
    finally:
        await bench.forget_redis(backends.REDIS_URL, [http_apps.redis_key(session_id)])


async def test_pyjwt_postgres_app_needs_the_session_row(
    set_env: SetEnv, postgres_reason: str | None
) -> None:
    if postgres_reason:
        pytest.skip(postgres_reason)
    key, session_id = secrets.token_bytes(32), bench.new_session_id()
    database = await bench.create_database()
    try:
        dsn = bench.database_dsn(database)
        await bench.seed_postgres(dsn, session_id, bench.PYJWT_USER)
        set_env(bench.pyjwt_env("pyjwt-postgres", key, **{http_apps.POSTGRES_ENV: dsn}))
        await assert_session_looked_up(key, session_id)
    finally:
        await bench.drop_database(database)


def test_uvicorn_target_is_built_from_the_environment(set_env: SetEnv) -> None:
    set_env({http_apps.APP_ENV: "none"})
    try:
        assert isinstance(http_apps.app, FastAPI)
    finally:
        vars(http_apps).pop("app", None)  # built on access and kept: forget it again

    set_env({http_apps.APP_ENV: "pyjwt"})
    with pytest.raises(RuntimeError, match="SJBENCH_JWT_KEY is not set"):
        http_apps.app_from_env()
    set_env({http_apps.APP_ENV: "nonsense"})
    with pytest.raises(RuntimeError, match="must be one of"):
        http_apps.app_from_env()


WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:40000/hello
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.60ms    1.20ms  30.00ms   90.00%
    Req/Sec     5.70k   300.00     6.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    5.80ms
     90%    6.50ms
     99%    1.20s
  17100 requests in 3.00s, 2.50MB read
  Socket errors: connect 0, read 0, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   5699.52
Transfer/sec:    853.25KB
"""


def test_wrk_output_is_read_with_its_units() -> None:
    run = bench.parse_wrk(WRK_OUTPUT)

    assert run.requests_per_s == pytest.approx(5699.52)
    assert run.p50_ms == pytest.approx(0.85)
    assert run.p99_ms == pytest.approx(1200.0)
    assert (run.requests, run.non_2xx) == (17100, 7)
    assert run.socket_errors == "connect 0, read 0, write 0, timeout 3"
    with pytest.raises(RuntimeError, match="cannot read"):
        bench.parse_wrk("wrk: connection refused")


def test_cookie_row_is_compared_with_bearer_round_by_round() -> None:
    wrk = bench.parse_wrk(WRK_OUTPUT)

    def target(key: str, rates: Sequence[float]) -> bench.Target:
        runs = [
            bench.Run(bench.WrkRun(rate, 1.0, 2.0, 1000, 0, None), 1.0, 0.1, 0.0) for rate in rates
        ]
        return bench.Target(bench.VARIANTS[key], {}, "token", [], runs)

    assert bench.cookie_line({"b": target("b", [wrk.requests_per_s])}) is None
    line = bench.cookie_line(
        {"b": target("b", [1000, 2000, 1000]), "bc": target("bc", [980, 1900, 1030])}
    )
    assert line is not None
    assert "(informational): MET  [(b-cookie)/(b) 1.03x" in line
    assert "round by round: 0.98 0.95 1.03 (median 0.98)" in line
    far = bench.cookie_line({"b": target("b", [1000]), "bc": target("bc", [900])})
    assert far is not None and "NOT MET" in far


def test_standalone_rows_run_sessionjwt_serve_and_c0_keeps_uvicorn_defaults() -> None:
    assert bench.parse_options(["--variants", "s2,c0,s"]).variants == ("c0", "s", "s2")
    options = bench.parse_options(["--storm-seconds", "0", "--storm-logins", "3"])
    assert (options.storm_seconds, options.storm_logins) == (0, 3)
    assert bench.parse_options([]).storm_seconds == bench.STORM_SECONDS == 10

    serve1 = bench.server_command(bench.VARIANTS["s"], 1234)
    assert serve1[1:] == [
        *("-m", "sessionjwt.server.cli", "serve", "--port", "1234", "--workers", "1")
    ]
    assert bench.server_command(bench.VARIANTS["s2"], 1234)[-2:] == ["--workers", "2"]
    c0 = bench.server_command(bench.VARIANTS["c0"], 1234)
    assert "--no-access-log" not in c0 and "--log-level" not in c0  # uvicorn's defaults
    assert "--no-access-log" in bench.server_command(bench.VARIANTS["c"], 1234)
    assert bench.VARIANTS["s"].path == "/auth/me" and bench.VARIANTS["c0"].path == "/hello"


async def test_standalone_row_is_the_service_on_default_settings(
    tmp_path: Path, set_env: SetEnv
) -> None:
    """(s) as the benchmark prepares it: only the data directory is set, and the service's
    app answers /auth/me with the token, 401 to every probe."""
    from sessionjwt import Settings
    from sessionjwt.server.app import create_app

    async with contextlib.AsyncExitStack() as cleanup:
        s, s2 = await bench.prepare(["s", "s2"], tmp_path, cleanup)
    assert list(s.env) == ["SESSIONJWT_DATA_DIR"] and s.env == s2.env and s.token == s2.token
    assert {probe.name for probe in s.probes} == {"no token", "tampered token", "revoked session"}

    set_env(s.env)
    assert (
        Settings().argon2_memory_cost_kib == Settings.model_fields["argon2_memory_cost_kib"].default
    )
    async with serving(create_app(Settings())) as client:
        answer = await client.get("/auth/me", headers=bench.request_headers(s.variant, s.token))
        assert answer.status_code == 200, answer.text
        assert bench.answered_as_expected(s.variant, answer)
        for probe in s.probes:
            refusal = await client.get(
                "/auth/me", headers=bench.request_headers(s.variant, probe.token)
            )
            assert refusal.status_code == probe.status == 401, (probe.name, refusal.text)


def _runs(key: str, rates: Sequence[float], us: float = 100.0) -> bench.Target:
    runs = [
        bench.Run(bench.WrkRun(rate, 1.0, 2.0, 1000, 0, None), 1.0, us * 1000 / 1e6, 0.0)
        for rate in rates
    ]
    return bench.Target(bench.VARIANTS[key], {}, "token", [], runs)


def test_service_targets_are_judged_on_medians_round_by_round() -> None:
    by_key = {"s": _runs("s", [3000, 2400, 2600]), "c0": _runs("c0", [2000, 2000, 2000])}
    line = bench.ratio_line("s", "c0", 1.2, by_key)
    assert line is not None
    text, passed = line
    assert passed and "target (s) ≥ 1.2x (c0): PASS  [1.30x" in text
    assert "round by round: 1.50 1.20 1.30 (median 1.30)" in text
    assert bench.ratio_line("s2", "s", 1.4, by_key) is None  # (s2) not run
    slow = bench.ratio_line("s", "c0", 1.4, by_key)
    assert slow is not None and not slow[1] and "FAIL" in slow[0]


def test_storm_report_compares_p99_under_the_storm_with_idle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def wrk(p99: float) -> bench.WrkRun:
        return bench.WrkRun(1000.0, 1.0, p99, 1000, 0, None)

    rounds = [
        bench.StormRound(wrk(10.0), wrk(15.0), 50, {}, [200.0] * 50),
        bench.StormRound(wrk(12.0), wrk(30.0), 40, {429: 2}, [300.0] * 40),
    ]
    options = bench.parse_options(["--storm-seconds", "10", "--check-target"])
    assert bench.storm_report(options, rounds) == 1  # median 22.5 ms vs 11 ms: 2.05x
    out = capsys.readouterr().out
    assert "≤ 2.0x idle: FAIL  [2.05x: 22.50 vs 11.00 ms]" in out
    assert "round by round: 1.50 2.50" in out and "other answers {429: 2}" in out
    rounds[1] = bench.StormRound(wrk(12.0), wrk(20.0), 40, {}, [300.0] * 40)
    assert bench.storm_report(options, rounds) == 0
