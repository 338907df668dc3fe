"""The Alembic migrations build exactly the schema the code declares, on both engines, and
instances that start together on a fresh database do not trip over each other's migration."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from sessionjwt.db.migrate import current_revision, head_revision, upgrade
from sessionjwt.db.tables import metadata
from tests import backends


async def schema_drift(url: str) -> list[Any]:
    def _compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_compare)
    finally:
        await engine.dispose()


async def test_sqlite_migrations_match_the_declared_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await upgrade(url)
    assert await schema_drift(url) == []


@pytest.mark.postgres
async def test_postgres_migrations_match_the_declared_tables(postgres_url: str) -> None:
    assert await schema_drift(postgres_url) == []


async def test_concurrent_first_starts_on_sqlite_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.gather(*(upgrade(url) for _ in range(4)))
    engine = create_async_engine(url)
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


@pytest.mark.postgres
def test_instances_migrating_together_on_postgres_take_turns(postgres_url: str) -> None:
    """Four `sessionjwt migrate` processes at once on an empty database: every one succeeds
    (the advisory lock makes the later ones find the schema current) and it is at head."""
    name, url = backends.create_database()
    try:
        environment = {**os.environ, "SESSIONJWT_DATABASE_URL": url}
        migrations = [
            subprocess.Popen(
                [sys.executable, "-m", "sessionjwt.server.cli", "migrate"],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [process.communicate(timeout=120)[0] for process in migrations]
        assert [process.returncode for process in migrations] == [0] * 4, outputs

        async def revision() -> str | None:
            engine = create_async_engine(url)
            try:
                return await current_revision(engine)
            finally:
                await engine.dispose()

        assert asyncio.run(revision()) == head_revision()
        assert asyncio.run(schema_drift(url)) == []
    finally:
        backends.drop_database(name)


async def test_accounts_from_before_0007_count_as_verified(tmp_path: Path) -> None:
    """Revision 0007 asks new accounts to prove their address; the ones already there signed
    up when nobody asked, so the migration marks them verified rather than locking them out."""
    from sqlalchemy import text

    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await upgrade(url, "0006")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, email_normalized, password_hash, roles,"
                    " created_at, session_generation) VALUES ('u1', 'a@example.com',"
                    " 'a@example.com', 'x', '[]', '2026-01-02 03:04:05.000000', 0)"
                )
            )
        await upgrade(url)
        async with engine.connect() as connection:
            verified = (
                await connection.execute(text("SELECT email_verified_at, created_at FROM users"))
            ).one()
        assert verified[0] is not None and verified[0] == verified[1]
    finally:
        await engine.dispose()
