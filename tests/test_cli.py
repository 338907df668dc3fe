"""The operator's CLI, run as a real separate process against the service's database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.audit.query import AuditFilter
from sessionjwt.audit.trail import AuditEventType
from sessionjwt.clock import to_datetime
from sessionjwt.db.tables import passkeys
from sessionjwt.errors import AccountDisabled, KeyRetired, SessionRevoked
from sessionjwt.sessions.issue import TokenPair
from tests.conftest import PASSWORD
from tests.factors.conftest import AuthenticatorApp, authenticator  # noqa: F401 - fixture


def run_cli(
    settings: Settings, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
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
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, input=answer
    )


async def cli(
    settings: Settings, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(partial(run_cli, settings, *args, answer=answer))


def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def test_cli_revoke_is_refused_by_a_running_service_on_its_next_check(
    auth: SessionJWT, settings: Settings
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    pair = await auth.login("alice@example.com", PASSWORD)
    await auth.check(pair.access_token)  # warm: the service now answers from memory

    result = await cli(settings, "sessions", "revoke", pair.session_id)  # the id is enough
    assert result.returncode == 0, result.stderr
    assert f"revoked session {pair.session_id}" in result.stdout

    with pytest.raises(SessionRevoked):
        await auth.check(pair.access_token)
    again = await cli(settings, "sessions", "revoke", pair.session_id)
    assert again.returncode == 0, again.stderr
    assert "already revoked; nothing changed" in again.stdout


async def test_cli_revoke_by_id_refuses_an_unknown_id_or_another_accounts_session(
    auth: SessionJWT, settings: Settings
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    await auth.register("mallory@example.com", PASSWORD)
    pair = await auth.login("alice@example.com", PASSWORD)

    unknown = await cli(settings, "sessions", "revoke", "no-such-session")
    assert unknown.returncode == 1
    assert "session_not_found" in unknown.stderr
    # With --user the id must be that account's: a typo in the id cannot end someone else's.
    mismatch = await cli(
        settings, "sessions", "revoke", pair.session_id, "--user", "mallory@example.com"
    )
    assert mismatch.returncode == 1
    assert "session_not_found" in mismatch.stderr
    await auth.check(pair.access_token)


async def test_cli_revoke_all_and_disable_reach_the_running_service_and_say_how_many(
    auth: SessionJWT, settings: Settings
) -> None:
    await auth.register("bob@example.com", PASSWORD)
    phone = await auth.login("bob@example.com", PASSWORD)
    laptop = await auth.login("bob@example.com", PASSWORD)
    for pair in (phone, laptop):
        await auth.check(pair.access_token)

    result = await cli(settings, "sessions", "revoke", "--user", "bob@example.com", "--all")
    assert result.returncode == 0, result.stderr
    assert "revoked 2 live sessions of bob@example.com" in result.stdout
    for pair in (phone, laptop):
        with pytest.raises(SessionRevoked):
            await auth.check(pair.access_token)

    fresh = await auth.login("bob@example.com", PASSWORD)
    await auth.check(fresh.access_token)
    result = await cli(settings, "users", "disable", "bob@example.com")
    assert result.returncode == 0, result.stderr
    assert "its 1 live session and 0 API keys are refused" in result.stdout
    with pytest.raises(AccountDisabled):
        await auth.check(fresh.access_token)


async def test_cli_creates_a_user_from_stdin_and_lists_users_and_sessions_as_json(
    auth: SessionJWT, settings: Settings
) -> None:
    created = await cli(
        settings,
        "users",
        "create",
        "carol@example.com",
        "--password-stdin",
        "--role",
        "admin",
        answer=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    assert "created carol@example.com" in created.stdout

    listed = await cli(settings, "users", "list")
    assert "carol@example.com" in listed.stdout
    assert "admin" in listed.stdout
    [carol] = json_lines(await cli(settings, "users", "list", "--json"))
    assert carol["email"] == "carol@example.com" and carol["roles"] == ["admin"]
    assert carol["disabled_at"] is None
    assert datetime.fromisoformat(str(carol["created_at"])).tzinfo is not None

    pair = await auth.login("carol@example.com", PASSWORD)  # the piped password is hers
    sessions = await cli(settings, "sessions", "list", "--user", "carol@example.com")
    assert sessions.returncode == 0, sessions.stderr
    assert pair.session_id in sessions.stdout
    rows = json_lines(
        await cli(settings, "sessions", "list", "--user", "carol@example.com", "--json")
    )
    assert [row["id"] for row in rows] == [pair.session_id]


async def test_cli_keeps_passwords_off_the_command_line(settings: Settings) -> None:
    # The old --password option put it in shell history and `ps`: it is gone.
    argument = await cli(settings, "users", "create", "dan@example.com", "--password", PASSWORD)
    assert argument.returncode == 2
    assert "No such option" in argument.stderr
    # Not on a terminal and no --password-stdin: refuse, never an echoing prompt.
    piped = await cli(settings, "users", "create", "dan@example.com", answer=PASSWORD + "\n")
    assert piped.returncode == 2
    assert "--password-stdin" in piped.stderr
    assert PASSWORD not in piped.stdout + piped.stderr
    empty = await cli(settings, "users", "create", "dan@example.com", "--password-stdin", answer="")
    assert empty.returncode == 2
    assert "no password" in empty.stderr
    listed = await cli(settings, "users", "list", "--json")
    assert json_lines(listed) == []  # nothing was created


async def test_every_listing_speaks_json(auth: SessionJWT, settings: Settings) -> None:
    """Scripts read every listing as JSON Lines, not by scraping a table."""
    await auth.register("erin@example.com", PASSWORD)
    await auth.create_client("orders", actor="test")
    keys = json_lines(await cli(settings, "keys", "list", "--json"))
    assert {row["state"] for row in keys} >= {"active", "next"}
    [client] = json_lines(await cli(settings, "clients", "list", "--json"))
    assert client["name"] == "orders" and client["grants"] == ["introspection"]
    assert (
        json_lines(await cli(settings, "api-keys", "list", "--user", "erin@example.com", "--json"))
        == []
    )
    status = json_lines(await cli(settings, "master-key", "status", "--json"))
    assert status[0]["configured_as"] == "current"
    assert isinstance(status[0]["rows"], int) and status[0]["rows"] >= 2  # active + next key
    assert json_lines(await cli(settings, "providers", "list", "--json")) == []


async def test_cli_reports_unknown_user_and_bad_arguments(settings: Settings) -> None:
    unknown = await cli(settings, "sessions", "revoke", "--user", "ghost@example.com", "--all")
    assert unknown.returncode == 1
    assert "user_not_found" in unknown.stderr

    both = await cli(settings, "sessions", "revoke", "--user", "ghost@example.com")
    assert both.returncode == 2
    assert "exactly one of SESSION_ID or --all" in both.stderr
    everyone = await cli(settings, "sessions", "revoke", "--all")
    assert everyone.returncode == 2
    assert "--all needs --user" in everyone.stderr


def test_migrate_creates_the_schema_and_serve_refuses_a_stale_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    result = run_cli(settings, "migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "sessionjwt.db").exists()


async def test_cli_rotates_lists_and_retires_keys_under_a_running_service(
    auth: SessionJWT, settings: Settings
) -> None:
    await auth.register("carol@example.com", PASSWORD)
    before = await auth.login("carol@example.com", PASSWORD)
    old_kid = auth.key_ring().active.kid

    refused = await cli(settings, "keys", "rotate")  # the next key was published just now
    assert refused.returncode == 1 and "key_publish_ahead" in refused.stderr
    rotated = await cli(settings, "keys", "rotate", "--force")
    assert rotated.returncode == 0, rotated.stderr
    listed = await cli(settings, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    states = {
        line.split()[1]: line.split()[5]
        for line in listed.stdout.splitlines()
        if "│" in line and old_kid in line
    }
    assert states == {old_kid: "retiring"}, listed.stdout
    await auth.check(before.access_token)  # a normal rotation ends nothing

    retired = await cli(settings, "keys", "retire", old_kid)
    assert retired.returncode == 0, retired.stderr
    with pytest.raises(KeyRetired):
        await auth.check(before.access_token)


async def test_cli_emergency_rotation_asks_first_then_ends_every_session(
    auth: SessionJWT, settings: Settings
) -> None:
    await auth.register("dave@example.com", PASSWORD)
    pair = await auth.login("dave@example.com", PASSWORD)
    await auth.check(pair.access_token)

    declined = await cli(settings, "keys", "rotate", "--revoke-all", answer="n\n")
    assert declined.returncode == 1
    await auth.check(pair.access_token)

    done = await cli(settings, "keys", "rotate", "--revoke-all", answer="y\n")
    assert done.returncode == 0, done.stderr
    with pytest.raises(KeyRetired):
        await auth.check(pair.access_token)
    with pytest.raises(SessionRevoked):
        await auth.refresh(pair.refresh_token)


async def with_an_app(
    auth: SessionJWT, app: AuthenticatorApp, clock: ManualClock, email: str
) -> tuple[TokenPair, str, list[str]]:
    """An account that set up an authenticator app (otplib's code): its session, the app's
    secret and its recovery codes."""
    await auth.register(email, PASSWORD)
    pair = await auth.login(email, PASSWORD)
    principal = await auth.check(pair.access_token)
    enrolment = await auth.factors.begin_totp(principal)
    codes = await auth.factors.confirm_totp(principal, app.code(enrolment.otpauth_uri, clock.now()))
    return pair, enrolment.secret, codes


async def test_cli_shows_an_account_and_its_factors_never_their_secrets(
    auth: SessionJWT,
    settings: Settings,
    authenticator: AuthenticatorApp,  # noqa: F811
    clock: ManualClock,
) -> None:
    _, secret, codes = await with_an_app(auth, authenticator, clock, "erin@example.com")
    user = await auth.users.require_by_email("erin@example.com")
    async with auth.database.write() as connection:  # a passkey row, as registration leaves it
        await connection.execute(
            passkeys.insert().values(
                id="passkey-1",
                user_id=user.id,
                credential_id="credential-1",
                public_key=b"not shown",
                name="[bold]Work laptop[/bold]",  # the user's words, not Rich markup
                created_at=to_datetime(clock.now()),
            )
        )

    shown = await cli(settings, "users", "show", "erin@example.com")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    for label, value in (
        ("email", "erin@example.com"),
        ("id", user.id),
        ("roles", "-"),
        ("verified", "no"),
        ("disabled", "no"),
        ("created", "2027-01-15"),
        ("authenticator app", "yes"),
        ("passkeys", "1"),
        ("recovery codes left", "10"),
    ):
        assert re.search(rf"^{label} +{re.escape(value)}", out, re.M), (label, out)
    assert re.search(r"\[bold\]Work laptop\[/bold\] +│ 2027-01-15 \S+ UTC +│ -", out), out
    for hidden in (secret, *codes, "not shown"):
        assert hidden not in out


async def test_cli_mfa_reset_asks_first_then_removes_every_factor_and_ends_the_sessions(
    auth: SessionJWT,
    settings: Settings,
    authenticator: AuthenticatorApp,  # noqa: F811
    clock: ManualClock,
) -> None:
    pair, _, _ = await with_an_app(auth, authenticator, clock, "frank@example.com")
    user = await auth.users.require_by_email("frank@example.com")

    declined = await cli(settings, "users", "mfa-reset", "frank@example.com", answer="n\n")
    assert declined.returncode == 1
    assert (
        "Remove the authenticator app, 10 recovery codes of frank@example.com and sign out all "
        "of its sessions?" in declined.stdout
    )
    assert (await auth.factors.summary(user.id)).totp
    await auth.check(pair.access_token)

    done = await cli(settings, "users", "mfa-reset", "frank@example.com", "--yes")
    assert done.returncode == 0, done.stderr
    assert "Remove" not in done.stdout  # --yes: no question
    assert (
        "removed the authenticator app, 10 recovery codes of frank@example.com; every "
        "session of it has ended" in " ".join(done.stdout.split())
    )
    summary = await auth.factors.summary(user.id)
    assert (summary.totp, summary.passkeys, summary.recovery_codes_left) == (False, 0, 0)
    with pytest.raises(SessionRevoked):
        await auth.check(pair.access_token)
    audit = await auth.audit_events(AuditFilter(user=user.id, event=AuditEventType.MFA_RESET))
    assert [event.actor for event in audit.events] == ["cli"]
