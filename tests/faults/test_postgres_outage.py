"""PostgreSQL stopped (``pg_ctl -m fast``: every connection cut) and restarted under load.

While it is down: warm checks of live sessions may answer 200 from memory (no revoke can be
made durable meanwhile, so memory is still the truth); whatever must reach the store answers
503 ``store_unavailable``; a revoke that answered 503 is retried until it answers 2xx, and
from then on no instance accepts the session. Once it is back everything is served again
within a bound, and every login and revoke that was acknowledged is in the database.
"""

from __future__ import annotations

import pytest

from tests.cluster.harness import Cluster
from tests.faults.outage import assert_invariants, run_outage
from tests.faults.postgres_server import ThrowawayPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_postgres_stopped_and_restarted_under_load(
    fault_cluster: Cluster, fault_postgres: ThrowawayPostgres
) -> None:
    outcome = run_outage(
        fault_cluster, fault_postgres.dsn, fault_postgres.stop, fault_postgres.start
    )
    print(outcome.report("postgres outage"))
    assert_invariants(outcome)
