"""What the benchmark scripts share, so that one fix reaches all of them.

Every script pins the same service settings (so the caller's ``SESSIONJWT_*`` variables
cannot skew a figure), times rows the same way (interleaved, GC paused), reads the same
percentiles and describes the machine the same way; those pieces live here. What one script
alone needs stays in that script.

The scripts run directly (``python benchmarks/x.py``, which puts the repository root on
``sys.path`` first) and are imported as ``benchmarks.x`` by the smoke tests: either way this
module is ``benchmarks.common``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import platform
import secrets
import socket
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from tests import backends

from sessionjwt import SessionJWT, SessionRevoked, Settings
from sessionjwt.db.tables import sessions

ISSUER = "https://auth.bench.test"
AUDIENCE = "https://api.bench.test"

# Pinned in every service a benchmark starts, in process or as a server. Argon2 is cheap
# because no benchmark measures hashing: it only runs in the set-up.
PINNED: dict[str, Any] = {
    "issuer": ISSUER,
    "audience": AUDIENCE,
    "argon2_time_cost": 1,
    "argon2_memory_cost_kib": 1024,
    "argon2_parallelism": 1,
}

# A timer runs its operation n times and returns the elapsed nanoseconds.
Timer = Callable[[int], Awaitable[int]]


# -- options and the machine --------------------------------------------------------------


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number of at least ``minimum`` (``1_000`` is fine)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def machine() -> str:
    """The first line of every report: what ran the benchmark."""
    return (
        f"machine: Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, os.cpu_count()={os.cpu_count()}"
    )


def backends_unavailable() -> str | None:
    """Why the PostgreSQL server and Redis of ``tests/backends.py`` cannot be used, or None."""
    for reason in (backends.postgres_unavailable_reason(), backends.redis_unavailable_reason()):
        if reason is not None:
            return reason
    return None


@contextlib.contextmanager
def throwaway_database() -> Iterator[tuple[str, str]]:
    """A new PostgreSQL database (its name and SQLAlchemy URL), dropped afterwards.

    The helpers run their own event loop: enter this outside ``asyncio.run``."""
    name, url = backends.create_database()
    try:
        yield name, url
    finally:
        backends.drop_database(name)


# -- the services' settings ---------------------------------------------------------------


def redis_namespace() -> str:
    """A Redis namespace of this run only, so runs and test suites never share keys."""
    return f"sjbench-{secrets.token_hex(6)}"


def pinned_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a service in this process: a SQLite store in ``data_dir`` unless
    ``overrides`` say otherwise, EdDSA, and the default verified-token cache."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'bench.db'}",
        "master_key_file": data_dir / "master.key",
        **PINNED,
        "signing_algorithm": "EdDSA",
        "verified_token_cache_size": Settings.model_fields["verified_token_cache_size"].default,
    }
    values.update(overrides)
    return Settings(**values)


def server_env(
    data_dir: Path, database_url: str | None = None, namespace: str | None = None
) -> dict[str, str]:
    """``SESSIONJWT_*`` for a benchmark's server processes, with rate limits out of the way
    (they are not measured). With a ``database_url``, the servers also share Redis, under
    ``namespace`` (a new one if not given)."""
    env = {
        "SESSIONJWT_DATA_DIR": str(data_dir),
        **{f"SESSIONJWT_{name.upper()}": str(value) for name, value in PINNED.items()},
        "SESSIONJWT_LOGIN_RATE_LIMIT_IP": "1000000/minute",
        "SESSIONJWT_REFRESH_RATE_LIMIT_IP": "1000000/minute",
        "SESSIONJWT_REGISTER_RATE_LIMIT_IP": "1000000/minute",
    }
    if database_url is not None:
        env["SESSIONJWT_DATABASE_URL"] = database_url
        env["SESSIONJWT_REDIS_URL"] = backends.REDIS_URL
        env["SESSIONJWT_REDIS_NAMESPACE"] = namespace or redis_namespace()
    return env


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """The settings the servers read from ``env``, for a service in this process."""
    values: dict[str, Any] = {
        name.removeprefix("SESSIONJWT_").lower(): value
        for name, value in env.items()
        if name.startswith("SESSIONJWT_")
    }
    return Settings(**values)


# -- server processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(slots=True)
class Server:
    """A server process a benchmark started on a local port, writing to its own log file."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def wait_stopped(self) -> None:
        """Wait for the process to end after :meth:`terminate` (kill it after 10 s); close
        the log."""
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self.log.close()

    def stop(self) -> None:
        self.terminate()
        self.wait_stopped()


def start_server(
    command: Sequence[str],
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
) -> Server:
    """Start ``command``, which serves on ``port``, with ``env`` and none of the caller's
    ``SESSIONJWT_*`` or ``SJBENCH_*`` variables; its output goes to ``log_path``."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("SESSIONJWT_", "SJBENCH_"))
    }
    log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**inherited, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    except BaseException:
        log.close()
        raise
    return Server(port, process, log_path, log)


# -- timing -------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One measured operation: ``iterations`` calls per sample, one sample (µs per call) per
    repeat."""

    name: str
    timer: Timer
    iterations: int
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def async_timer(call: Callable[[str], Awaitable[object]], token: str) -> Timer:
    """Time a loop of ``n`` awaits as a whole: per-call timer reads would dwarf a warm check."""

    async def run(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            await call(token)
        return time.perf_counter_ns() - start

    return run


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Collect, then keep the GC off (as :mod:`timeit` does), so that a collection triggered
    by one timed operation is not billed to another."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def measure(rows: Sequence[Row], repeats: int, *, warmup: int) -> None:
    """Interleave the rows repeat by repeat, so machine noise lands on all of them alike.

    One untimed pass of at most ``warmup`` calls a row first warms caches and the interpreter.
    The order rotates from repeat to repeat, so no row always runs first.
    """
    for row in rows:
        await row.timer(min(row.iterations, warmup))
    for repeat in range(repeats):
        shift = repeat % len(rows)
        for row in [*rows[shift:], *rows[:shift]]:
            with gc_paused():
                elapsed = await row.timer(row.iterations)
            row.samples.append(elapsed / row.iterations / 1000)


def paired_ratio(samples: Sequence[float], baseline: Sequence[float]) -> float:
    """Median of per-repeat ratios: a pair ran seconds apart, so a slow spell cancels out."""
    return statistics.median(a / b for a, b in zip(samples, baseline, strict=True))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, never interpolated."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


# -- the store ----------------------------------------------------------------------------


async def count_sessions(auth: SessionJWT) -> int:
    async with auth.database.read() as connection:
        found = await connection.execute(select(func.count()).select_from(sessions))
        return int(found.scalar_one())


async def revocation_seen(auth: SessionJWT, token: str) -> bool:
    """True if the next check of ``token`` refuses it as revoked."""
    try:
        await auth.check(token)
    except SessionRevoked:
        return True
    return False
