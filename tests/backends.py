"""Real database servers for the contract suite: the same tests run on SQLite and PostgreSQL.

PostgreSQL is the machine's server at 127.0.0.1:5432 (never a fake). Without it the PostgreSQL
runs are skipped and the summary says so loudly; with ``CI=true`` they must run, so an
unreachable server is a failure there, not a skip.
"""

from __future__ import annotations

import asyncio
import os
import secrets

POSTGRES_ADMIN_DSN = os.environ.get(
    "SESSIONJWT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SESSIONJWT_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TABLES = (
    "audit_events",
    "sessions",
    "users",
    "signing_keys",
    "clients",
    "sealed_secrets",
    "password_resets",
)


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_unavailable_reason() -> str | None:
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as error:  # any failure to reach the server means "not here"
        return f"PostgreSQL at {POSTGRES_ADMIN_DSN} is unreachable: {error!r}"
    return None


def redis_unavailable_reason() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as error:  # any failure to reach the server means "not here"
        return f"Redis at {REDIS_URL} is unreachable: {error!r}"
    return None


def create_database() -> tuple[str, str]:
    """A fresh database for this test run; returns (name, SQLAlchemy async URL)."""
    name = f"sessionjwt_test_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        await connection.execute("UPDATE deployment_state SET session_generation = 0")
    finally:
        await connection.close()
