"""Scale: does the request check or sign-out-everywhere get slower as data grows?

Why this exists: two claims depend on not scanning anything. (1) The request check costs the
same with 10³ or 10⁶ stored sessions: warm it never touches the store, and cold it is one
primary-key look-up (target: warm 10⁶ / 10³ ≤ 1.1x; the cold ratio is reported too, since
that is where table size could show). (2) Sign-out-everywhere is one increment of the user's
session generation, so a user with 10,000 sessions costs what a user with one costs (target
≤ 1.5x). Both stores are built in the same run and timed interleaved, repeat by repeat,
because the machine is shared and noisy: trust same-run ratios, not absolute microseconds.

The stores are filled with ``insert(sessions)`` / ``insert(users)`` run as ``executemany``
batches of 10,000 rows in one transaction (live sessions: ``user_generation`` equals the
owner's generation), and the build time is reported. Default backend: SQLite files in a
temporary directory; ``--backend postgres`` uses throwaway databases on the PostgreSQL server
and Redis that ``tests/backends.py`` names.

Run: ``.venv/bin/python benchmarks/scale.py [--sessions-large N] [--sessions-small N]
[--repeats R] [--backend sqlite|postgres]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Dialect, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from tests import backends

from benchmarks import common
from sessionjwt import SessionJWT, Settings
from sessionjwt.clock import storable
from sessionjwt.db.engine import sqlite_path
from sessionjwt.db.migrate import upgrade
from sessionjwt.db.tables import sessions, users
from sessionjwt.tokens.refresh_token import new_session_id

WARM_TARGET = 1.1
SIGNOUT_TARGET = 1.5
BATCH_ROWS = 10_000
LOAD_CACHE_KIB = 512 * 1024  # SQLite page cache of the loading connection only
SESSIONS_PER_USER = 10  # the filler is spread over many users, as in a real deployment
COLD_ITERATIONS = 100  # cold checks per sample (each reads the store)
WARM_SAMPLE = 100  # sessions of the many-session user held warm in memory when it signs out
WARMUP = 100  # calls a row in the untimed pass


@dataclass(frozen=True, slots=True)
class Options:
    sessions_large: int
    sessions_small: int
    signout_sessions: int
    repeats: int
    iterations: int
    backend: str
    check_target: bool


@dataclass(slots=True)
class Store:
    """One service on its own database, with a real logged-in session to check."""

    auth: SessionJWT
    token: str
    session_id: str
    stored: int = 0
    build_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SignOutUser:
    user_id: str
    sessions: int
    tokens: list[str]  # minted for a sample of its sessions, held warm before each sign-out


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="benchmarks/scale.py",
        description="Request-check and sign-out-everywhere cost against the amount of data.",
    )
    parser.add_argument("--sessions-large", type=common.at_least(1), default=1_000_000)
    parser.add_argument("--sessions-small", type=common.at_least(1), default=1000)
    parser.add_argument(
        "--signout-sessions",
        type=common.at_least(1),
        default=10_000,
        help="sessions of the user whose sign-out is compared with a one-session user's",
    )
    parser.add_argument("--repeats", type=common.at_least(1), default=21, help="samples per row")
    parser.add_argument(
        "--iterations", type=common.at_least(1), default=20_000, help="warm checks per sample"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--check-target", action="store_true", help="exit 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    return Options(
        args.sessions_large,
        args.sessions_small,
        args.signout_sessions,
        args.repeats,
        args.iterations,
        args.backend,
        args.check_target,
    )


def make_settings(data_dir: Path, database_url: str | None) -> Settings:
    """SQLite in ``data_dir``, or the PostgreSQL database at ``database_url`` with Redis."""
    if database_url is None:
        return common.pinned_settings(data_dir)
    return common.pinned_settings(
        data_dir,
        database_url=database_url,
        redis_url=backends.REDIS_URL,
        redis_namespace=common.redis_namespace(),
    )


# -- filling a store ----------------------------------------------------------------------


class BulkInsert:
    """``insert(table)`` compiled once for the engine's dialect, run as ``executemany`` batches.

    Going through ``connection.execute(insert, rows)`` costs ~40 µs a row in SQLAlchemy's
    per-row parameter processing (mostly formatting four datetimes), about as much as SQLite's
    own work. Here each constant goes through its column type's bind processor once, and the
    varying columns must be ones that need no processing (plain strings and integers), so
    the rows are exactly what SQLAlchemy itself would have sent.
    """

    def __init__(
        self,
        connection: AsyncConnection,
        table: Table,
        varying: Sequence[str],
        constants: dict[str, Any],
    ) -> None:
        dialect = connection.dialect
        compiled = table.insert().compile(dialect=dialect, column_keys=[*varying, *constants])
        if compiled.positiontup is None:
            raise RuntimeError(f"{dialect.name}: a positional paramstyle is needed")
        for name in varying:
            if table.c[name].type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise RuntimeError(f"column {name} needs per-row processing")
        processed = {
            name: self._process(table.c[name], value, dialect) for name, value in constants.items()
        }
        # Each placeholder takes a varying column (its index in a row) or a processed constant.
        self._slots = [
            (varying.index(name), None) if name in varying else (-1, processed[name])
            for name in compiled.positiontup
        ]
        self._sql = str(compiled)
        self._connection = connection

    @staticmethod
    def _process(column: Column[Any], value: Any, dialect: Dialect) -> Any:
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        return value if processor is None else processor(value)

    async def run(self, rows: Sequence[tuple[Any, ...]]) -> None:
        slots = self._slots
        params = [
            tuple(row[index] if index >= 0 else constant for index, constant in slots)
            for row in rows
        ]
        await self._connection.exec_driver_sql(self._sql, params)


@contextlib.asynccontextmanager
async def bulk_load(auth: SessionJWT) -> AsyncIterator[AsyncConnection]:
    """One write transaction for a whole fill. On SQLite the loading connection gets a page
    cache big enough for the indexes (random session ids land all over them, and a 10,000-row
    commit would rewrite ~10,000 pages), and the pool is emptied afterwards so that measured
    checks run on connections with the service's own settings."""
    async with auth.database.write() as connection:
        if auth.database.is_sqlite:
            await connection.exec_driver_sql(f"PRAGMA cache_size=-{LOAD_CACHE_KIB}")
        yield connection
    await auth.database.engine.dispose()


def _batches(count: int) -> Iterator[range]:
    for start in range(0, count, BATCH_ROWS):
        yield range(start, min(count, start + BATCH_ROWS))


async def insert_users(connection: AsyncConnection, count: int, password_hash: str) -> list[str]:
    """``count`` users nobody logs in as (any argon2 string will do); their ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    insert = BulkInsert(
        connection,
        users,
        ["id", "email", "email_normalized"],
        {
            "password_hash": password_hash,
            "roles": ["member"],
            "created_at": datetime.now(UTC),
            "session_generation": 0,
        },
    )
    for batch in _batches(count):
        emails = [(ids[index], f"{ids[index]}@example.com") for index in batch]
        await insert.run([(user_id, email, email) for user_id, email in emails])
    return ids


async def insert_sessions(
    connection: AsyncConnection,
    settings: Settings,
    owners: Sequence[str],
    count: int,
    per_user: int,
    *,
    keep: int = 0,
) -> list[str]:
    """``count`` live sessions, ``per_user`` each for the owners in turn; the first ``keep``
    session ids."""
    now = datetime.now(UTC)
    insert = BulkInsert(
        connection,
        sessions,
        ["id", "user_id"],
        {
            "created_at": now,
            "authenticated_at": now,
            "user_generation": 0,  # = the owner's session_generation: live
            "last_seen_at": now,
            "expires_at": now + settings.session_lifetime,
            "idle_timeout_seconds": int(settings.session_idle_timeout.total_seconds()),
            "refresh_hash": secrets.token_hex(32),  # any 64 hex characters: nobody refreshes
            "refresh_generation": 0,
        },
    )
    kept: list[str] = []
    for batch in _batches(count):
        rows = [(new_session_id(), owners[index // per_user]) for index in batch]
        kept.extend(row[0] for row in rows[: max(0, keep - len(kept))])
        await insert.run(rows)
    return kept


async def fill(auth: SessionJWT, count: int, password_hash: str) -> None:
    """Add ``count`` sessions spread over ``count / SESSIONS_PER_USER`` users."""
    if count <= 0:
        return
    async with bulk_load(auth) as connection:
        owners = await insert_users(connection, math.ceil(count / SESSIONS_PER_USER), password_hash)
        await insert_sessions(connection, auth.settings, owners, count, SESSIONS_PER_USER)


async def add_signout_user(auth: SessionJWT, count: int, password_hash: str) -> SignOutUser:
    async with bulk_load(auth) as connection:
        (user_id,) = await insert_users(connection, 1, password_hash)
        session_ids = await insert_sessions(
            connection, auth.settings, [user_id], count, count, keep=WARM_SAMPLE
        )
    now = storable(auth.clock.now())
    expires = now + auth.settings.session_lifetime.total_seconds()
    tokens = [
        auth.codec.issue(
            user_id=user_id, session_id=sid, roles=("member",), now=now, expires_at=expires
        )[0]
        for sid in session_ids
    ]
    return SignOutUser(user_id, count, tokens)


async def open_store(
    stack: contextlib.AsyncExitStack, data_dir: Path, database_url: str | None
) -> tuple[Store, str]:
    """A started service with one registered user logged in; the store and a password hash."""
    auth = await stack.enter_async_context(SessionJWT(make_settings(data_dir, database_url)))
    email = f"scale-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(18)
    user = await auth.register(email, password, roles=["member"])
    pair = await auth.login(email, password)
    assert user.password_hash is not None  # registered with a password
    return Store(auth, pair.access_token, pair.session_id), user.password_hash


# -- timing -------------------------------------------------------------------------------


def cold_timer(auth: SessionJWT, token: str) -> common.Timer:
    """Every check finds no liveness entry and loads the session and its user from the store."""

    async def run(n: int) -> int:
        check, clear = auth.check, auth.cache.clear
        start = time.perf_counter_ns()
        for _ in range(n):
            clear()
            await check(token)
        return time.perf_counter_ns() - start

    return run


async def wait_feed_healthy(auth: SessionJWT) -> None:
    """A Redis feed that has not heard its heartbeat sends every check to the store."""
    for _ in range(100):  # at most 5 s
        if getattr(auth.feed, "healthy", True):
            return
        await asyncio.sleep(0.05)


async def revive(auth: SessionJWT, user: SignOutUser) -> None:
    """Make every session of ``user`` live again (untimed) and hold a sample warm in memory."""
    generation = (
        select(users.c.session_generation).where(users.c.id == user.user_id).scalar_subquery()
    )
    async with auth.database.write() as connection:
        await connection.execute(
            update(sessions)
            .where(sessions.c.user_id == user.user_id)
            .values(user_generation=generation)
        )
    checkpoint(auth)
    auth.cache.clear()
    for token in user.tokens:
        await auth.check(token)


def checkpoint(auth: SessionJWT) -> None:
    """SQLite: fold the WAL into the database now, so the next timed write does not pay for
    checkpointing the rows this benchmark just rewrote (a real sign-out writes a few pages)."""
    path = sqlite_path(auth.settings.resolved_database_url)
    if path is not None:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def refused(auth: SessionJWT, tokens: Sequence[str]) -> bool:
    for token in tokens:
        if not await common.revocation_seen(auth, token):
            return False
    return True


async def time_signouts(
    auth: SessionJWT, people: Sequence[SignOutUser], repeats: int
) -> tuple[list[list[float]], bool]:
    """µs per ``revoke_user_sessions`` for each user, interleaved; and whether every sample
    token was refused after every sign-out."""
    samples: list[list[float]] = [[] for _ in people]
    all_refused = True
    for repeat in range(repeats):
        order = list(enumerate(people))
        if repeat % 2:
            order.reverse()
        for index, person in order:
            await revive(auth, person)
            with common.gc_paused():
                start = time.perf_counter_ns()
                await auth.revoke_user_sessions(person.user_id)
                elapsed = time.perf_counter_ns() - start
            samples[index].append(elapsed / 1000)
            all_refused = all_refused and await refused(auth, person.tokens)
    return samples, all_refused


# -- the run ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def stores(
    options: Options, database_urls: Sequence[str | None]
) -> AsyncIterator[tuple[Store, Store, SignOutUser, SignOutUser]]:
    with contextlib.ExitStack() as dirs:
        async with contextlib.AsyncExitStack() as stack:
            small_dir, large_dir = (
                Path(dirs.enter_context(tempfile.TemporaryDirectory(prefix=f"sjscale-{n}-")))
                for n in ("small", "large")
            )
            small, password_hash = await open_store(stack, small_dir, database_urls[0])
            large, _ = await open_store(stack, large_dir, database_urls[1])

            started = time.perf_counter()
            await fill(small.auth, options.sessions_small - 1, password_hash)
            small.build_seconds = time.perf_counter() - started

            started = time.perf_counter()
            one = await add_signout_user(large.auth, 1, password_hash)
            many = await add_signout_user(large.auth, options.signout_sessions, password_hash)
            filler = options.sessions_large - 1 - one.sessions - many.sessions
            await fill(large.auth, filler, password_hash)
            large.build_seconds = time.perf_counter() - started

            for store in (small, large):
                if options.backend == "postgres":  # what autovacuum would have done by now
                    async with store.auth.database.write() as connection:
                        await connection.exec_driver_sql("ANALYZE sessions")
                        await connection.exec_driver_sql("ANALYZE users")
                store.stored = await common.count_sessions(store.auth)
                await wait_feed_healthy(store.auth)
                if (await store.auth.check(store.token)).session_id != store.session_id:
                    raise RuntimeError("the check answered for another session")
            yield small, large, one, many


async def run(options: Options, database_urls: Sequence[str | None]) -> int:
    async with stores(options, database_urls) as (small, large, one, many):
        print(
            f"build: small store {small.stored:,} sessions in {small.build_seconds:.1f} s; "
            f"large store {large.stored:,} sessions in {large.build_seconds:.1f} s "
            f"({large.stored / max(large.build_seconds, 1e-9):,.0f} rows/s, batches of "
            f"{BATCH_ROWS:,}, {SESSIONS_PER_USER} sessions per filler user)"
        )
        cold_iterations = max(1, min(COLD_ITERATIONS, options.iterations // 20))
        small_label, large_label = f"{small.stored:,} stored", f"{large.stored:,} stored"
        rows = [
            common.Row(
                f"warm check, {small_label}",
                common.async_timer(small.auth.check, small.token),
                options.iterations,
            ),
            common.Row(
                f"warm check, {large_label}",
                common.async_timer(large.auth.check, large.token),
                options.iterations,
            ),
            common.Row(
                f"cold check, {small_label}", cold_timer(small.auth, small.token), cold_iterations
            ),
            common.Row(
                f"cold check, {large_label}", cold_timer(large.auth, large.token), cold_iterations
            ),
        ]
        await common.measure(rows, options.repeats, warmup=WARMUP)
        signout_samples, all_refused = await time_signouts(large.auth, [one, many], options.repeats)
    return report(options, rows, (one, many), signout_samples, all_refused)


def report(
    options: Options,
    rows: Sequence[common.Row],
    people: Sequence[SignOutUser],
    signout_samples: Sequence[list[float]],
    all_refused: bool,
) -> int:
    warm_small, warm_large, cold_small, cold_large = rows
    width = max(len(row.name) for row in rows)
    print()
    print(f"{'row':<{width}}  {'min µs':>10}  {'median µs':>10}  {'p90 µs':>10}  {'calls':>6}")
    print("-" * (width + 46))
    for row in rows:
        print(
            f"{row.name:<{width}}  {min(row.samples):>10.3f}  {row.median:>10.3f}  "
            f"{common.percentile(row.samples, 0.9):>10.3f}  {row.iterations:>6}"
        )
    print()
    warm = common.paired_ratio(warm_large.samples, warm_small.samples)
    cold = common.paired_ratio(cold_large.samples, cold_small.samples)
    warm_met = warm <= WARM_TARGET
    print(
        f"warm check large/small store: {warm:.3f}x (median of per-repeat ratios; ratio of "
        f"medians {warm_large.median / warm_small.median:.3f}x), target ≤ {WARM_TARGET}x: "
        f"{'PASS' if warm_met else 'FAIL'}"
    )
    print(
        f"cold check large/small store: {cold:.3f}x (median of per-repeat ratios; ratio of "
        f"medians {cold_large.median / cold_small.median:.3f}x), no target (reported)"
    )
    one, many = (statistics.median(samples) for samples in signout_samples)
    # Paired: the two sign-outs of a repeat ran back to back.
    signout = common.paired_ratio(signout_samples[1], signout_samples[0])
    signout_met = signout <= SIGNOUT_TARGET
    print(
        f"sign-out-everywhere: {people[0].sessions:,} session {one:.1f} µs, "
        f"{people[1].sessions:,} sessions {many:.1f} µs (medians of {options.repeats}); "
        f"{signout:.3f}x (median of per-repeat ratios; ratio of medians {many / one:.3f}x), "
        f"target ≤ {SIGNOUT_TARGET}x: {'PASS' if signout_met else 'FAIL'}"
    )
    warm_tokens = sum(len(person.tokens) for person in people)
    print(
        f"every sign-out refused at once by the next check ({warm_tokens} warm tokens after "
        f"each of {options.repeats * len(people)} sign-outs): {'yes' if all_refused else 'no'}"
    )
    if not all_refused:
        return 1
    return 1 if options.check_target and not (warm_met and signout_met) else 0


def describe_backend(options: Options) -> str:
    if options.backend == "postgres":
        return f"PostgreSQL {backends.POSTGRES_ADMIN_DSN} + Redis {backends.REDIS_URL}"
    return "SQLite files in a temporary directory (WAL, synchronous=NORMAL)"


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    print(f"{common.machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"backend: {describe_backend(options)}")
    print(
        "note: shared, noisy machine; rows are interleaved over "
        f"{options.repeats} repeats (time.perf_counter_ns); compare the ratios."
    )
    if options.backend == "sqlite":
        return asyncio.run(run(options, [None, None]))
    reason = common.backends_unavailable()
    if reason is not None:
        print(f"cannot run: {reason}")
        return 2
    # The helpers run their own event loop, so the databases are made and dropped out here.
    with contextlib.ExitStack() as databases:
        urls: list[str | None] = []
        for _ in range(2):
            _, url = databases.enter_context(common.throwaway_database())
            asyncio.run(upgrade(url))
            urls.append(url)
        return asyncio.run(run(options, urls))


if __name__ == "__main__":
    sys.exit(main())
