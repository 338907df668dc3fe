"""Engine set-up: one async engine, SQLite tuned for a server, errors turned into 503s.

SQLite transactions that read then write can fail with SQLITE_BUSY no matter the busy
timeout (a read lock cannot be upgraded past a concurrent writer). Write transactions
therefore start with ``BEGIN IMMEDIATE``, so writers queue on the busy timeout instead of
failing: no "database is locked" 500s under concurrent refreshes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from sessionjwt.errors import StoreUnavailable

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    path = sqlite_path(url)
    if path is not None:
        # The file holds password hashes and session state: owner-only from its first byte.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    else:  # one shared connection, or every connection would see its own empty database
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_async_engine(url, **kwargs)
    _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let us issue BEGIN ourselves (the pysqlite/aiosqlite recipe from SQLAlchemy's docs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sessionjwt_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The one place that opens transactions; store failures become :class:`StoreUnavailable`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(create_engine(url, **kwargs))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as connection:
                async with connection.begin():
                    yield connection
        except (IntegrityError, ProgrammingError):
            raise
        except (DBAPIError, OSError, TimeoutError) as error:
            raise StoreUnavailable() from error

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as connection:
                await connection.execution_options(sessionjwt_write=True)
                async with connection.begin():
                    yield connection
        except (IntegrityError, ProgrammingError):
            raise
        except (DBAPIError, OSError, TimeoutError) as error:
            raise StoreUnavailable() from error

    async def ping(self) -> bool:
        try:
            async with self.read() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except StoreUnavailable:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
