"""Redis killed (SIGKILL) and restarted on the same port under load.

While it is down: checks read PostgreSQL (feeds are stale), never 5xx; logins and refreshes
answer 503 (the shared rate-limit counters are unreachable: no silent per-process fallback);
a revoke is durable but cannot be announced, so it answers 503 and is retried until 2xx; no
instance accepts a session after its revoke returned 2xx. Once Redis is back everything is
served again within a bound, and no acknowledged write is missing from the database.
"""

from __future__ import annotations

import pytest

from tests.cluster.harness import Cluster, ThrowawayRedis
from tests.faults.outage import assert_invariants, run_outage
from tests.faults.postgres_server import ThrowawayPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_redis_killed_and_restarted_under_load(
    fault_cluster: Cluster, fault_redis: ThrowawayRedis, fault_postgres: ThrowawayPostgres
) -> None:
    outcome = run_outage(fault_cluster, fault_postgres.dsn, fault_redis.kill, fault_redis.start)
    print(outcome.report("redis outage"))
    assert_invariants(outcome)
