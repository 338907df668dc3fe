"""Fixtures for the fault-injection tests: servers of our own, three instances on them.

- ``fault_postgres``: a throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``, see
  ``postgres_server.py``), migrated, with a master key and a first signing key;
- ``fault_redis``: a throwaway ``redis-server``;
- ``fault_cluster``: three ``sessionjwt serve`` instances on both
  (``SESSIONJWT_FEED_STALE_AFTER=1``, heartbeat 0.2 s). At teardown every instance must have
  stayed up, logged no traceback, and stopped on SIGTERM (no hang on shutdown).

The machine's shared PostgreSQL and Redis are never touched: these tests stop their own.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import (
    FEED_HEARTBEAT_S,
    FEED_STALE_AFTER_S,
    INSTANCES,
    Cluster,
    SharedStore,
    ThrowawayRedis,
    bootstrap_store,
    running_cluster,
    service_env,
    throwaway_redis_server,
    unique_namespace,
)
from tests.faults.postgres_server import ThrowawayPostgres, throwaway_postgres


@pytest.fixture
def fault_postgres() -> Iterator[ThrowawayPostgres]:
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def fault_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    with throwaway_redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def fault_cluster(
    fault_postgres: ThrowawayPostgres, fault_redis: ThrowawayRedis, tmp_path: Path
) -> Iterator[Cluster]:
    store = SharedStore(fault_postgres.url, tmp_path / "data")
    store.data_dir.mkdir()
    asyncio.run(bootstrap_store(store))
    env = service_env(
        store,
        redis_url=fault_redis.url,
        namespace=unique_namespace(),
        feed_stale_after=str(FEED_STALE_AFTER_S),
        feed_heartbeat=str(FEED_HEARTBEAT_S),
    )
    with running_cluster(env, tmp_path / "logs", INSTANCES) as cluster:
        yield cluster
    # uvicorn re-raises SIGTERM once it has shut down gracefully; SIGKILL means it hung.
    clean = (0, -signal.SIGTERM)
    unclean = {i.name: i.process.returncode for i in cluster.instances}
    unclean = {name: code for name, code in unclean.items() if code not in clean}
    assert not unclean, f"instances did not stop on SIGTERM: {unclean}\n{cluster.logs()}"
