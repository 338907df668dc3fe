"""Fixtures for the multi-process tests.

- ``cluster_store``: one fresh, migrated PostgreSQL database and one data directory (one master
  key) for the whole run. The master key and the first signing key are created here, before any
  instance starts, so instances never race to create them.
- ``cluster``: three ``sessionjwt serve`` processes on that database and the machine's Redis,
  under a Redis namespace of their own, with ``SESSIONJWT_REFRESH_GRACE=0`` (a replayed refresh
  token is a replay at once: the server clock cannot be moved from outside).
- ``throwaway_redis`` / ``outage_cluster``: a ``redis-server`` on its own free port that a test
  may kill and restart, and three instances that use it (``SESSIONJWT_FEED_STALE_AFTER=1``).
- ``slow_link`` (per module): the same with a Redis of its own, but instance B reaches it
  through a proxy that can hold B's ``SUBSCRIBE`` commands for a while
  (``SESSIONJWT_FEED_STALE_AFTER=1``, the longest lease; a held SUBSCRIBE may take up to 4 s).

PostgreSQL or Redis unreachable: skipped, loudly (see ``tests/conftest.py``); with ``CI=true``
that is a failure instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import backends
from tests.cluster.harness import (
    FEED_HEARTBEAT_S,
    FEED_STALE_AFTER_S,
    INSTANCES,
    SLOW_LINK_STALE_AFTER_S,
    Cluster,
    SharedStore,
    SlowLink,
    SubscribeDelayingProxy,
    ThrowawayRedis,
    bootstrap_store,
    running_cluster,
    service_env,
    throwaway_redis_server,
    unique_namespace,
)
from tests.conftest import _require


@pytest.fixture(scope="session")
def cluster_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedStore]:
    _require(backends.postgres_unavailable_reason())
    name, url = backends.create_database()
    try:
        store = SharedStore(url, tmp_path_factory.mktemp("cluster-data"))
        asyncio.run(bootstrap_store(store))
        yield store
    finally:
        backends.drop_database(name)


@pytest.fixture(scope="session")
def cluster(
    cluster_store: SharedStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    _require(backends.redis_unavailable_reason())
    env = service_env(
        cluster_store,
        redis_url=backends.REDIS_URL,
        namespace=unique_namespace(),
        refresh_grace="0",
    )
    with running_cluster(env, tmp_path_factory.mktemp("cluster-logs"), INSTANCES) as running:
        yield running


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    with throwaway_redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def outage_cluster(
    cluster_store: SharedStore, throwaway_redis: ThrowawayRedis, tmp_path: Path
) -> Iterator[Cluster]:
    env = service_env(
        cluster_store,
        redis_url=throwaway_redis.url,
        namespace=unique_namespace(),
        feed_stale_after=str(FEED_STALE_AFTER_S),
        feed_heartbeat=str(FEED_HEARTBEAT_S),
    )
    # Not checked: a feed task that died (a known bug, see test_feed_resubscribe.py) makes
    # the instance's shutdown fail, and these tests kill Redis or feed it garbage on purpose.
    with running_cluster(env, tmp_path / "logs", INSTANCES, check_logs=False) as running:
        yield running


@pytest.fixture(scope="module")
def slow_link(
    cluster_store: SharedStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlowLink]:
    """Shared by the tests of one module; each leaves Redis and every subscription up."""
    log_dir = tmp_path_factory.mktemp("slow-link")
    with throwaway_redis_server(log_dir) as redis_server:
        proxy = SubscribeDelayingProxy(redis_server.port)
        try:
            env = service_env(
                cluster_store,
                redis_url=redis_server.url,
                namespace=unique_namespace(),
                feed_stale_after=str(SLOW_LINK_STALE_AFTER_S),
                feed_heartbeat=str(FEED_HEARTBEAT_S),
            )
            per_instance = {"B": {"SESSIONJWT_REDIS_URL": proxy.url}}
            with running_cluster(env, log_dir, INSTANCES, per_instance) as running:
                yield SlowLink(running, redis_server, proxy)
        finally:
            proxy.close()
