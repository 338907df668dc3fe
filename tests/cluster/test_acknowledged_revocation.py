"""A revoke that returned success is refused by the very next request on every instance and
every worker process: over real processes, more than a thousand times, with nothing to wait.

(a) Four ``sessionjwt serve`` instances on PostgreSQL and a Redis of this module's own (so
that its connections may be killed and it may be restarted). Per revoke: a session logged
in over HTTP on one instance and warmed on all four (each holds it in memory), revoked on
another one — ``POST /auth/logout``, ``DELETE /auth/sessions/{id}``, ``POST /auth/logout-all``
and RFC 7009 ``POST /oauth/revoke`` in turn — and the moment its 204/200 head is parsed, one
``GET /auth/me`` is written to every other instance on pre-opened keep-alive connections,
each of which must answer ``401 session_revoked``. Three phases on the same cluster:
healthy; one member's Redis connections killed (``CLIENT KILL ID``) every 50 ms; Redis
itself SIGKILLed and restarted on its port, twice. A revoke that answers 503 (durable, not
announced) has not returned: it is counted, not checked. Every one that returned is.

(b) ``sessionjwt serve --workers 2`` on SQLite (no Redis: the shared epoch file). Each
keep-alive connection is mapped to the worker process serving it through /proc (our port ->
the server-side socket's inode in /proc/net/tcp -> the worker whose /proc/<pid>/fd holds
it), so the next request goes to each worker, the revoking one too.

The client and the revoke loop are ``benchmarks/visibility.py``'s (a raw HTTP/1.1 client on
asyncio streams: httpx costs more than the servers on this 2-core machine); sessions are
logged in beforehand, concurrently, with the cheap argon2 of ``service_env``.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from benchmarks.visibility import (
    ConnectionCutter,
    Lane,
    PhaseResult,
    Target,
    close_lanes,
    descendants,
    open_lanes,
    plan_every_worker,
    plan_other_instances,
    prepare_sessions,
    register_users,
    run_phase,
    wait_healthy,
    worker_pids,
)

from tests.cluster.harness import (
    Cluster,
    SharedStore,
    ThrowawayRedis,
    free_port,
    running_cluster,
    service_env,
    stop_process,
    throwaway_redis_server,
    unique_namespace,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

INSTANCES = 4
LANES = 4  # revokes in flight at once
HEALTHY_REVOKES = 400
KILLED_REVOKES = 300
RESTARTED_REVOKES = 300  # with the two phases above: 1,000 returned revokes on the cluster
WORKER_REVOKES = 500  # two workers, so 1,000 next requests after returned revokes
WORKERS = ("--workers", "2")
KILL_EVERY_S = 0.05
REDIS_DOWN_S = 0.3
PHASE_DEADLINE_S = 60.0  # a phase that has not made its count by then fails, with its counts
# Sessions logged in per wanted revoke (logging in costs about as much as a revoke cycle):
# revokes that answer 503 while Redis or a connection is down use some up.
SPARE = {"healthy": 1.0, "killed": 1.2, "restarted": 1.5, "workers": 1.0}
KILLED_LANES = 8  # those revokes mostly wait out the cut member's lease: latency, not CPU


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ack_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayRedis]:
    with throwaway_redis_server(tmp_path_factory.mktemp("ack-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def ack_cluster(
    cluster_store: SharedStore, ack_redis: ThrowawayRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    env = service_env(
        cluster_store,
        redis_url=ack_redis.url,
        namespace=unique_namespace(),
        revoke_rate_limit_ip="1000000/minute",  # RFC 7009 revokes are a quarter of them
    )
    # Logs are checked by the healthy phase only: the later ones kill Redis on purpose.
    logs = tmp_path_factory.mktemp("ack-cluster")
    with running_cluster(env, logs, INSTANCES, check_logs=False) as running:
        yield running


@dataclass(frozen=True, slots=True)
class Workers:
    port: int
    supervisor: subprocess.Popen[bytes]
    pids: tuple[int, ...]
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def sqlite_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    data_dir = tmp_path_factory.mktemp("ack-sqlite")
    store = SharedStore(f"sqlite+aiosqlite:///{data_dir / 'sessionjwt.db'}", data_dir)
    env = service_env(store, redis_url="", namespace="", revoke_rate_limit_ip="1000000/minute")
    del env["SESSIONJWT_REDIS_URL"], env["SESSIONJWT_REDIS_NAMESPACE"]
    asyncio.run(register_users(env, []))  # migrated and keys made before any worker starts
    port = free_port()
    log = data_dir / "serve.log"
    with log.open("ab") as output:
        command = [sys.executable, "-m", "sessionjwt.server.cli", "serve", "--port", f"{port}"]
        supervisor = subprocess.Popen(
            [*command, *WORKERS],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        asyncio.run(wait_healthy([port], within_s=30))
        deadline = time.monotonic() + 30
        while len(pids := worker_pids(supervisor.pid)) < 2:
            assert supervisor.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"workers: {pids}\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
        yield Workers(port, supervisor, tuple(pids), env, log)
        assert supervisor.poll() is None, f"serve exited early:\n{log.read_text()[-3000:]}"
    finally:
        stop_process(supervisor, timeout=10)


# -- helpers ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def lanes_to(targets: Sequence[Target], count: int = LANES) -> AsyncIterator[list[Lane]]:
    lanes = await open_lanes(targets, count)
    try:
        yield lanes
    finally:
        await close_lanes(lanes)


def cluster_targets(cluster: Cluster) -> list[Target]:
    return [Target(instance.name, instance.port) for instance in cluster.instances]


def ports_of(cluster: Cluster) -> list[int]:
    return [instance.port for instance in cluster.instances]


def assert_every_returned_revoke_refused_next(
    result: PhaseResult, wanted: int, others: int, extra: str = ""
) -> None:
    """At least ``wanted`` revokes returned, and after each one, each of the ``others``
    targets answered its next request with ``401 session_revoked``: none accepted it."""
    summary = result.summary() + (f"; {extra}" if extra else "")
    assert len(result.returned) >= wanted, f"too few revokes returned: {summary}"
    assert not result.accepted, f"next requests ACCEPTED after a returned revoke: {summary}"
    assert not result.unexpected, f"next requests answered otherwise: {summary}"
    short = [o for o in result.returned if len(o.next) != others]
    assert not short, f"{len(short)} revokes without a next request to all {others}: {summary}"
    # What is neither 2xx nor 503 is a bug too (a 500, a 401 for a live session...).
    odd = {k: n for k, n in result.revoke_statuses().items() if k not in ("200", "204")}
    assert all(key.startswith("503") for key in odd), f"revokes answered {odd}: {summary}"


async def phase_on_cluster(
    cluster: Cluster,
    label: str,
    wanted: int,
    *,
    during: contextlib.AbstractAsyncContextManager[object] | None = None,
    until: Callable[[], bool] = lambda: True,
    lanes_count: int = LANES,
) -> PhaseResult:
    started = time.perf_counter()
    count = int(wanted * SPARE[label]) + 2 * lanes_count
    sessions = await prepare_sessions(cluster.env, ports_of(cluster), count, f"ack-{label}")
    print(f"\n{label}: {len(sessions)} sessions logged in in {time.perf_counter() - started:.1f} s")
    async with lanes_to(cluster_targets(cluster), lanes_count) as lanes:
        plan = plan_other_instances(INSTANCES)
        async with during or contextlib.nullcontext():
            result = await run_phase(
                label,
                lanes,
                sessions,
                plan,
                want_returned=wanted,
                deadline_s=PHASE_DEADLINE_S,
                until=until,
            )
    print(result.summary())  # the counts, for -s or a report
    return result


# -- (a) four instances on PostgreSQL + Redis -------------------------------------------------


async def test_healthy_cluster_refuses_every_returned_revoke_on_the_next_request(
    ack_cluster: Cluster,
) -> None:
    result = await phase_on_cluster(ack_cluster, "healthy", HEALTHY_REVOKES)

    assert_every_returned_revoke_refused_next(result, HEALTHY_REVOKES, INSTANCES - 1)
    assert len(result.returned) == len(result.outcomes), result.summary()  # no 503 when healthy
    trouble = {i.name: found for i in ack_cluster.instances if (found := i.trouble())}
    assert not trouble, f"instances reported failures: {trouble}\n{ack_cluster.logs()}"


async def test_member_whose_redis_connections_are_killed_never_accepts_a_returned_revoke(
    ack_cluster: Cluster, ack_redis: ThrowawayRedis
) -> None:
    victim = ack_cluster.instances[-1]
    pids = [victim.process.pid, *descendants(victim.process.pid)]
    cutter = ConnectionCutter(ack_redis.port, pids, KILL_EVERY_S)

    result = await phase_on_cluster(
        ack_cluster, "killed", KILLED_REVOKES, during=cutter, lanes_count=KILLED_LANES
    )

    extra = (
        f"{cutter.killed} connections of {victim.name} killed in {cutter.cuts} cuts "
        f"(found by {sorted(cutter.found_by)})"
    )
    assert cutter.cuts >= 10, f"the member's connections were hardly cut: {extra}"
    assert_every_returned_revoke_refused_next(result, KILLED_REVOKES, INSTANCES - 1, extra)
    await wait_healthy(ports_of(ack_cluster), "/readyz", within_s=30)


class RedisRestarts:
    """In the background: twice, SIGKILL the Redis and start it again on its port."""

    def __init__(self, server: ThrowawayRedis, times: int = 2) -> None:
        self._server = server
        self._times = times
        self.done = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        for _ in range(self._times):
            await asyncio.sleep(1.0)  # revokes flowing before, and in between
            await asyncio.to_thread(self._server.kill)
            await asyncio.sleep(REDIS_DOWN_S)
            await asyncio.to_thread(self._server.start)
            self.done += 1

    async def __aenter__(self) -> RedisRestarts:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task  # a failed restart fails the test here


async def test_redis_restarted_during_revokes_no_returned_revoke_is_accepted(
    ack_cluster: Cluster, ack_redis: ThrowawayRedis
) -> None:
    restarts = RedisRestarts(ack_redis)

    result = await phase_on_cluster(
        ack_cluster,
        "restarted",
        RESTARTED_REVOKES,
        during=restarts,
        until=lambda: restarts.done == 2,  # revokes run on until both restarts are over
    )

    extra = f"Redis restarted {restarts.done} times, down {REDIS_DOWN_S:g} s each"
    assert restarts.done == 2, extra
    assert_every_returned_revoke_refused_next(result, RESTARTED_REVOKES, INSTANCES - 1, extra)
    await wait_healthy(ports_of(ack_cluster), "/readyz", within_s=30)


# -- (b) two workers of one instance on SQLite ------------------------------------------------


async def test_two_workers_on_sqlite_refuse_every_returned_revoke_on_the_next_request(
    sqlite_workers: Workers,
) -> None:
    pids = sqlite_workers.pids
    targets = [
        Target(f"worker {pid}", sqlite_workers.port, pid, pids) for pid in pids
    ]  # fmt: skip
    started = time.perf_counter()
    sessions = await prepare_sessions(
        sqlite_workers.env,
        [sqlite_workers.port],
        int(WORKER_REVOKES * SPARE["workers"]) + 2 * LANES,
        "ack-workers",
    )
    print(f"\nworkers: {len(sessions)} sessions logged in in {time.perf_counter() - started:.1f} s")
    async with lanes_to(targets) as lanes:
        # Each lane holds one connection served by each worker: check it from outside.
        served = [lane.owners() for lane in lanes]
        assert all(owners == list(pids) for owners in served), (served, pids)
        supervisor = sqlite_workers.supervisor.pid
        assert set(pids) <= set(descendants(supervisor)), (pids, supervisor)
        assert supervisor not in pids and len(set(pids)) == 2

        result = await run_phase(
            "workers",
            lanes,
            sessions,
            plan_every_worker(len(targets)),
            want_returned=WORKER_REVOKES,
            deadline_s=PHASE_DEADLINE_S,
        )
        still = [lane.owners() for lane in lanes]  # no reconnect landed on the other worker
    print(f"\n{result.summary()}")

    extra = f"workers {list(pids)}, connections served by {served}, at the end {still}"
    assert_every_returned_revoke_refused_next(result, WORKER_REVOKES, len(pids), extra)
    assert len(result.returned) == len(result.outcomes), result.summary()
    assert {n.target for o in result.returned for n in o.next} == {t.name for t in targets}
