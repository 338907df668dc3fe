"""The operator's CLI, run as a real separate process against the service's database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionjwt import SessionJWT, Settings
from sessionjwt.errors import AccountDisabled, SessionRevoked
from tests.conftest import PASSWORD


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SESSIONJWT_DATA_DIR": str(settings.data_dir),
        "SESSIONJWT_ISSUER": settings.issuer,
        "SESSIONJWT_AUDIENCE": settings.audience,
        "SESSIONJWT_ARGON2_MEMORY_COST_KIB": "1024",
        "SESSIONJWT_ARGON2_TIME_COST": "1",
        "SESSIONJWT_ARGON2_PARALLELISM": "1",
        "COLUMNS": "250",
    }
    if settings.database_url:
        env["SESSIONJWT_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["SESSIONJWT_REDIS_URL"] = settings.redis_url
        env["SESSIONJWT_REDIS_NAMESPACE"] = settings.redis_namespace
    command = [sys.executable, "-m", "sessionjwt.server.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


async def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, settings, *args)


async def test_cli_revoke_is_refused_by_a_running_service_on_its_next_check(
    auth: SessionJWT, settings: Settings
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    pair = await auth.login("alice@example.com", PASSWORD)
    await auth.check(pair.access_token)  # warm: the service now answers from memory

    result = await cli(
        settings, "sessions", "revoke", "--user", "alice@example.com", pair.session_id
    )
    assert result.returncode == 0, result.stderr
    assert f"revoked session {pair.session_id}" in result.stdout

    with pytest.raises(SessionRevoked):
        await auth.check(pair.access_token)


async def test_cli_revoke_all_and_disable_reach_the_running_service(
    auth: SessionJWT, settings: Settings
) -> None:
    await auth.register("bob@example.com", PASSWORD)
    phone = await auth.login("bob@example.com", PASSWORD)
    laptop = await auth.login("bob@example.com", PASSWORD)
    for pair in (phone, laptop):
        await auth.check(pair.access_token)

    result = await cli(settings, "sessions", "revoke", "--user", "bob@example.com", "--all")
    assert result.returncode == 0, result.stderr
    for pair in (phone, laptop):
        with pytest.raises(SessionRevoked):
            await auth.check(pair.access_token)

    fresh = await auth.login("bob@example.com", PASSWORD)
    await auth.check(fresh.access_token)
    result = await cli(settings, "users", "disable", "bob@example.com")
    assert result.returncode == 0, result.stderr
    with pytest.raises(AccountDisabled):
        await auth.check(fresh.access_token)


async def test_cli_creates_and_lists_users_and_sessions(
    auth: SessionJWT, settings: Settings
) -> None:
    created = await cli(
        settings,
        "users",
        "create",
        "carol@example.com",
        "--password",
        PASSWORD,
        "--role",
        "admin",
    )
    assert created.returncode == 0, created.stderr
    assert "created carol@example.com" in created.stdout

    listed = await cli(settings, "users", "list")
    assert "carol@example.com" in listed.stdout
    assert "admin" in listed.stdout

    pair = await auth.login("carol@example.com", PASSWORD)
    sessions = await cli(settings, "sessions", "list", "--user", "carol@example.com")
    assert sessions.returncode == 0, sessions.stderr
    assert pair.session_id in sessions.stdout


async def test_cli_reports_unknown_user_and_bad_arguments(settings: Settings) -> None:
    unknown = await cli(settings, "sessions", "revoke", "--user", "ghost@example.com", "--all")
    assert unknown.returncode == 1
    assert "user_not_found" in unknown.stderr

    both = await cli(settings, "sessions", "revoke", "--user", "ghost@example.com")
    assert both.returncode == 2
    assert "exactly one of SESSION_ID or --all" in both.stderr


def test_migrate_creates_the_schema_and_serve_refuses_a_stale_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    result = run_cli(settings, "migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "sessionjwt.db").exists()
