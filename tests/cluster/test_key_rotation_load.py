"""Requests keep flowing through three key rotations across three real instances.

Two normal rotations (CLI and admin API) must cost no live session a single request: the
key that starts signing was published ahead, every instance hears the rotation, and tokens
of the previous key keep verifying. The third is the emergency one: every token and session
from before it is refused by every instance on the next request, and new sign-ins work
everywhere at once.

This module runs its own database and instances: an emergency rotation ends every session
in the store, which no other test's store should suffer.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import jwt
import pytest

from tests import backends
from tests.cluster.harness import (
    Cluster,
    SharedStore,
    bootstrap_store,
    error_code,
    expect,
    login,
    register,
    running_cluster,
    service_env,
    unique_email,
    unique_namespace,
)
from tests.conftest import _require, bearer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

USERS = 6
PUBLISH_AHEAD_S = 1.0  # short, so that the test can rotate every couple of seconds
PHASE_S = 1.5  # traffic between rotations


@pytest.fixture(scope="module")
def rotation_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _require(backends.postgres_unavailable_reason())
    _require(backends.redis_unavailable_reason())
    name, url = backends.create_database()
    try:
        store = SharedStore(url, tmp_path_factory.mktemp("rotation-data"))
        asyncio.run(bootstrap_store(store))
        env = service_env(
            store,
            redis_url=backends.REDIS_URL,
            namespace=unique_namespace(),
            key_publish_ahead=str(PUBLISH_AHEAD_S),
        )
        with running_cluster(env, tmp_path_factory.mktemp("rotation-logs")) as cluster:
            yield cluster
    finally:
        backends.drop_database(name)


@dataclass
class Observation:
    sent_at: float
    instance: str
    kid: str
    status: int
    code: str | None


@dataclass
class Traffic:
    """Signed-in clients hammering /auth/me round-robin, refreshing every few requests."""

    cluster: Cluster
    observations: list[Observation] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client_loop(self, index: int, pair: dict[str, str]) -> None:
        urls = [instance.base_url for instance in self.cluster.instances]
        clients = [httpx.Client(base_url=url, timeout=15.0, trust_env=False) for url in urls]
        try:
            step = index
            while not self.stop.is_set():
                step += 1
                where = step % len(clients)
                if step % 7 == 0:
                    refreshed = clients[where].post(
                        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
                    )
                    if refreshed.status_code == 200:
                        pair = refreshed.json()
                    continue
                sent_at = time.monotonic()
                response = clients[where].get("/auth/me", headers=bearer(pair["access_token"]))
                with self.lock:
                    self.observations.append(
                        Observation(
                            sent_at,
                            self.cluster.instances[where].name,
                            jwt.get_unverified_header(pair["access_token"])["kid"],
                            response.status_code,
                            error_code(response),
                        )
                    )
                time.sleep(0.005)
        finally:
            for client in clients:
                client.close()


def test_requests_flow_through_two_rotations_and_stop_at_the_emergency_one(
    rotation_cluster: Cluster,
) -> None:
    cluster = rotation_cluster
    a, b, c = cluster.clients
    admin_email, admin_password = unique_email("admin"), "admin-" + "x" * 20
    created = cluster.cli(
        "users",
        "create",
        admin_email,
        "--role",
        "admin",
        "--password-stdin",
        stdin=admin_password + "\n",
    )
    assert created.returncode == 0, created.stderr

    pairs = []
    for index in range(USERS):
        email = unique_email(f"load{index}")
        register(a, email)
        pairs.append(login(cluster.clients[index % 3], email))
    traffic = Traffic(cluster)
    workers = [
        threading.Thread(target=traffic.client_loop, args=(index, pair), daemon=True)
        for index, pair in enumerate(pairs)
    ]
    for worker in workers:
        worker.start()
    try:
        time.sleep(PHASE_S)
        first = cluster.cli("keys", "rotate")
        assert first.returncode == 0, first.stderr
        time.sleep(PHASE_S)

        admin = login(b, admin_email, admin_password)
        second = c.post("/admin/keys/rotate", json={}, headers=bearer(admin["access_token"]))
        expect(second, 200)
        time.sleep(PHASE_S)

        emergency_started = time.monotonic()
        emergency = subprocess.run(
            [sys.executable, "-m", "sessionjwt.server.cli", "keys", "rotate", "--revoke-all"],
            env=cluster.env,
            input="y\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        emergency_returned = time.monotonic()
        assert emergency.returncode == 0, emergency.stderr
        time.sleep(0.5)
    finally:
        traffic.stop.set()
        for worker in workers:
            worker.join(timeout=10)

    before = [o for o in traffic.observations if o.sent_at < emergency_started]
    false_refusals = [o for o in before if o.status != 200]
    assert not false_refusals, (
        f"live sessions refused during normal rotations: {false_refusals[:5]}"
    )
    kids_used = sorted({o.kid for o in before})
    assert len(kids_used) >= 3, f"traffic did not cross both rotations: kids {kids_used}"

    # Every worker's session began before the emergency, whichever key signed its latest
    # token (refreshes continue while the CLI runs): all must be refused from its return on.
    stale = [o for o in traffic.observations if o.sent_at > emergency_returned]
    assert stale, "no request was sent after the emergency rotation returned"
    accepted = [o for o in stale if o.status == 200]
    assert not accepted, f"accepted after the emergency rotation returned: {accepted[:5]}"
    assert {o.code for o in stale} <= {"key_retired", "session_revoked"}, stale[:5]

    # After the emergency: a new sign-in on one instance works on the others at once.
    email = unique_email("after")
    register(a, email)
    fresh = login(a, email)
    for client in (b, c):
        expect(client.get("/auth/me", headers=bearer(fresh["access_token"])), 200)
    print(
        f"\n{len(before)} requests through 2 rotations with 0 refusals (kids {len(kids_used)}); "
        f"{len(stale)} old-token requests after the emergency, all refused"
    )
