"""Master-key rotation without downtime: new current + old previous → rewrap → old removed.

Every step keeps live tokens (access and refresh) working, instances on the old and the new
configuration serve side by side, and a key that was removed too early is refused by name.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from sessionjwt import ConfigurationError, ManualClock, SessionJWT, Settings
from sessionjwt.db.tables import sealed_secrets, signing_keys
from sessionjwt.keys.master import (
    MasterKeys,
    generate_master_key,
    master_key_id,
    parse_master_key,
)
from sessionjwt.keys.rewrap import rewrap, rows_by_master_key
from tests.conftest import make_settings
from tests.secret_servers import login_and_check

# A fresh ring wraps two signing keys (active and its published successor) and the
# refresh-chain key.
SIGNING_KEYS = 2
WRAPPED_ROWS = SIGNING_KEYS + 1


def key_file(path: Path) -> Path:
    path.write_text(generate_master_key() + "\n")
    os.chmod(path, 0o600)
    return path


def file_id(path: Path) -> str:
    return master_key_id(parse_master_key(path.read_bytes(), "test"))


class Keys:
    """Two master-key files, A (the original) and B (its replacement), and settings for
    each stage of the rotation on one database."""

    def __init__(self, tmp_path: Path, backend: dict[str, object]) -> None:
        self.dir = tmp_path
        self.backend = backend
        self.a = key_file(tmp_path / "a.key")
        self.b = key_file(tmp_path / "b.key")

    def settings(self, current: Path, *previous: Path) -> Settings:
        return make_settings(
            self.dir,
            **self.backend,
            master_key_file=current,
            master_key_previous=",".join(str(path) for path in previous),
        )

    def cli(self, current: Path, *previous: Path, command: str = "rewrap") -> str:
        settings = self.settings(current, *previous)
        env = {
            **os.environ,
            "SESSIONJWT_DATA_DIR": str(settings.data_dir),
            "SESSIONJWT_MASTER_KEY_FILE": str(current),
            "SESSIONJWT_MASTER_KEY_PREVIOUS": ",".join(str(path) for path in previous),
            "COLUMNS": "200",
        }
        if settings.database_url:
            env["SESSIONJWT_DATABASE_URL"] = settings.database_url
        if settings.redis_url:
            env["SESSIONJWT_REDIS_URL"] = settings.redis_url
            env["SESSIONJWT_REDIS_NAMESPACE"] = settings.redis_namespace
        result = subprocess.run(
            [sys.executable, "-m", "sessionjwt.server.cli", "master-key", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def keys(tmp_path: Path, backend: dict[str, object]) -> Keys:
    return Keys(tmp_path, backend)


async def test_the_documented_rotation_keeps_tokens_alive_at_every_step(
    keys: Keys, clock: ManualClock
) -> None:
    # 1. Today: master key A.
    async with SessionJWT(keys.settings(keys.a), clock=clock) as auth:
        before = await login_and_check(auth)

    # 2. Deploy with B current and A previous: every token still verifies and refreshes.
    async with SessionJWT(keys.settings(keys.b, keys.a), clock=clock) as auth:
        assert (await auth.check(before.access_token)).email == "alice@example.com"
        before = await auth.refresh(before.refresh_token)
        during = await login_and_check(auth)
        assert await rows_by_master_key(auth.database) == {file_id(keys.a): WRAPPED_ROWS}

    # 3. Re-wrap (the CLI, as an operator runs it); a second run finds nothing to do.
    assert f"re-wrapped {WRAPPED_ROWS} rows" in keys.cli(keys.b, keys.a)
    assert "re-wrapped 0 rows" in keys.cli(keys.b, keys.a)
    assert file_id(keys.b) in keys.cli(keys.b, command="status")

    # 4. Remove A: B alone opens everything; tokens from every earlier step still work.
    async with SessionJWT(keys.settings(keys.b), clock=clock) as auth:
        for pair in (before, during):
            assert (await auth.check(pair.access_token)).email == "alice@example.com"
            await auth.refresh(pair.refresh_token)
        await login_and_check(auth)
        assert await rows_by_master_key(auth.database) == {file_id(keys.b): WRAPPED_ROWS}

    # 5. A alone is now the wrong key, and the refusal says so.
    with pytest.raises(ConfigurationError, match="wrong master key") as refused:
        async with SessionJWT(keys.settings(keys.a), clock=clock):
            pass
    assert file_id(keys.b) in str(refused.value)  # names the key that is missing


async def test_old_and_new_configurations_serve_side_by_side(
    keys: Keys, clock: ManualClock
) -> None:
    """A rolling deploy: an instance still on A only and one on B+A share the database; each
    accepts the other's tokens, and a refresh raced across them yields one successor."""
    old = SessionJWT(keys.settings(keys.a), clock=clock)
    new = SessionJWT(keys.settings(keys.b, keys.a), clock=clock)
    try:
        await old.start()
        await new.start()
        from_old = await login_and_check(old)
        from_new = await login_and_check(new)
        for service in (old, new):
            for pair in (from_old, from_new):
                assert (await service.check(pair.access_token)).email == "alice@example.com"

        # The refresh chain key survives the master-key change: a concurrent refresh of the
        # same token on the two instances gets the same successor (no fork, no reuse alarm).
        first = await old.refresh(from_old.refresh_token)
        second = await new.refresh(from_old.refresh_token)
        assert first.refresh_token == second.refresh_token

        # Re-wrapping under B while the old instance runs: it keeps serving from memory.
        assert new.master_keys is not None
        assert (await rewrap(new.database, new.master_keys)).rewrapped == WRAPPED_ROWS
        assert (await old.check(from_new.access_token)).email == "alice@example.com"
        await old.refresh(first.refresh_token)
    finally:
        await asyncio.gather(old.close(), new.close())


async def test_rows_written_before_master_key_ids_are_found_and_rewrapped(
    keys: Keys, clock: ManualClock
) -> None:
    """Rows from before migration 0004 have no master_key_id: each configured key is tried,
    and rewrap records the id."""
    async with SessionJWT(keys.settings(keys.a), clock=clock) as auth:
        pair = await login_and_check(auth)
        async with auth.database.write() as connection:
            await connection.execute(update(signing_keys).values(master_key_id=None))
    async with SessionJWT(keys.settings(keys.b, keys.a), clock=clock) as auth:
        assert (await auth.check(pair.access_token)).email == "alice@example.com"
        assert auth.master_keys is not None
        report = await rewrap(auth.database, auth.master_keys)
        assert (report.rewrapped, report.already_current) == (WRAPPED_ROWS, 0)
        async with auth.database.read() as connection:
            ids = (await connection.execute(select(signing_keys.c.master_key_id))).scalars()
            assert set(ids) == {file_id(keys.b)}


async def test_a_row_relabelled_with_another_key_id_is_refused_as_tampered(
    keys: Keys, clock: ManualClock
) -> None:
    async with SessionJWT(keys.settings(keys.a), clock=clock) as auth:
        async with auth.database.write() as connection:
            await connection.execute(update(signing_keys).values(master_key_id=file_id(keys.b)))
    with pytest.raises(ConfigurationError, match="tampered"):
        async with SessionJWT(keys.settings(keys.b, keys.a), clock=clock):
            pass


async def test_a_failed_rewrap_changes_nothing(keys: Keys, clock: ManualClock) -> None:
    """One transaction: a row no configured key opens aborts the run before any write."""
    async with SessionJWT(keys.settings(keys.a), clock=clock) as auth:
        await login_and_check(auth)
        async with auth.database.write() as connection:
            await connection.execute(
                update(sealed_secrets).values(master_key_id="0123456789abcdef")
            )
        before = await rows_by_master_key(auth.database)
        # The signing key (under A) would be re-wrapped first; the sealed row then fails.
        b_then_a = MasterKeys(
            current=parse_master_key(keys.b.read_bytes(), "b"),
            previous=(parse_master_key(keys.a.read_bytes(), "a"),),
        )
        with pytest.raises(ConfigurationError, match="0123456789abcdef"):
            await rewrap(auth.database, b_then_a)
        assert (
            await rows_by_master_key(auth.database)
            == before
            == {
                file_id(keys.a): SIGNING_KEYS,
                "0123456789abcdef": 1,
            }
        )


async def test_rewrap_skips_retired_keys_whose_material_is_wiped(
    keys: Keys, clock: ManualClock
) -> None:
    """A retired key is never unwrapped again (the key-ring lifecycle wipes it): rewrap and
    status leave it out instead of failing on it."""
    async with SessionJWT(keys.settings(keys.a), clock=clock) as auth:
        async with auth.database.write() as connection:
            await connection.execute(
                signing_keys.insert().values(
                    kid="retired-kid",
                    alg="EdDSA",
                    state="retired",
                    private_key_encrypted=b"",
                    master_key_id=file_id(keys.a),
                    created_at=datetime.fromtimestamp(clock.now(), UTC),
                )
            )
        b_then_a = MasterKeys(
            current=parse_master_key(keys.b.read_bytes(), "b"),
            previous=(parse_master_key(keys.a.read_bytes(), "a"),),
        )
        assert (await rewrap(auth.database, b_then_a)).rewrapped == WRAPPED_ROWS
        assert await rows_by_master_key(auth.database) == {file_id(keys.b): WRAPPED_ROWS}


async def test_a_totp_secret_survives_the_rotation_and_opens_only_for_its_user(
    keys: Keys, clock: ManualClock
) -> None:
    async with SessionJWT(keys.settings(keys.a), clock=clock) as auth:
        pair = await login_and_check(auth)
        principal = await auth.check(pair.access_token)
        secret = (await auth.factors.begin_totp(principal)).secret
    keys.cli(keys.b, keys.a)
    async with SessionJWT(keys.settings(keys.b), clock=clock) as auth:
        state = await auth.factors.store.totp(principal.user_id)
        assert state is not None and state.secret == secret
        assert await rows_by_master_key(auth.database) == {file_id(keys.b): WRAPPED_ROWS + 1}
