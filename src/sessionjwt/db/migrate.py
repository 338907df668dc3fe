"""Apply and inspect Alembic migrations programmatically (``sessionjwt migrate`` and start-up)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from sessionjwt.db.engine import sqlite_path
from sessionjwt.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise ConfigurationError("the installed package has no migrations")
    return head


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start at once.

    PostgreSQL serialises on an advisory lock taken in ``migrations/env.py``; SQLite, whose
    DDL Alembic runs outside one transaction, on an exclusive lock of a file beside the
    database. The second comer then finds the schema current and does nothing.
    """
    path = sqlite_path(url)
    lock_path = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(f"{path.name}.migrate-lock")
    await asyncio.to_thread(_upgrade_serialised, lock_path, url, revision)


# Alembic keeps its migration context in a module global: one upgrade per process at a time.
_IN_PROCESS = threading.Lock()


def _upgrade_serialised(lock_path: Path | None, url: str, revision: str) -> None:
    with _IN_PROCESS, contextlib.ExitStack() as stack:
        if lock_path is not None:
            lock = stack.enter_context(lock_path.open("a"))
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        command.upgrade(alembic_config(url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)
