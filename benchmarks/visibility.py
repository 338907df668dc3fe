"""Is a returned revoke refused by the very next request on every instance and every worker?

Why this exists: the promise is that once a revoke call has *returned success*, no instance
and no worker process accepts that session again. This measures it from the outside, as a
client sees it, over real ``sessionjwt serve`` processes: a session logged in on one instance
and warmed on all of them (each holds it in memory), a revoke on another instance — a mix of
``POST /auth/logout``, ``DELETE /auth/sessions/{id}``, ``POST /auth/logout-all`` and RFC 7009
``POST /oauth/revoke`` — and, the moment its 204/200 head is parsed, one ``GET /auth/me``
written to every other instance on pre-opened keep-alive connections (all written before
anything else is awaited). Each of those must be ``401 session_revoked``; a 200 is an
*accepted next request* (target: 0).

It also prices the promise: the revoke's round trip against a baseline round trip of a cheap
authenticated request (the warm ``GET /auth/me`` just before it, on the very same connection,
in the same run), per revoke, as p50/p99 of the difference and of the ratio (target: the
added p99 ≤ 50 ms with every member healthy); and, when the servers export it, the server-side
``sessionjwt_feed_announce_wait_seconds`` histogram from ``/metrics``, by outcome.

Phases (``--phases``, all by default):

- ``healthy``: K instances on one PostgreSQL database and one Redis;
- ``cut``: the same, while one member's Redis connections are cut again and again
  (``CLIENT KILL ID`` of the connections it owns): it must refuse or read the store, never
  accept from memory after its lease; revokes that answer 503 are not "returned";
- ``workers``: ``sessionjwt serve --workers 2`` on SQLite (no Redis; the shared epoch file),
  with each keep-alive connection mapped to the worker process that serves it through /proc,
  and the next request sent to every worker.

The Redis is a ``redis-server`` of this run (``redis-server`` must be installed), never the
machine's: this benchmark kills connections on it. The database is a throwaway PostgreSQL
database (the server ``tests/backends.py`` names). Everything is torn down at the end.

The load generator is a minimal HTTP/1.1 client on asyncio streams (:class:`RawClient`): on a
small machine httpx's own per-request cost is several times the server's, and the load
generator competes with the servers for the same CPUs. ``tests/cluster`` uses the same
pieces (``test_acknowledged_revocation.py``).

Run: ``.venv/bin/python benchmarks/visibility.py [--revokes N] [--instances K] [--lanes L]
[--phases healthy,cut,workers] [--check-target]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from tests import backends

from benchmarks import common
from sessionjwt import SessionJWT, Settings
from sessionjwt.db.migrate import upgrade

TARGET_ACCEPTED = 0
TARGET_ADDED_P99_MS = 50.0
PASSWORD = "visibility-benchmark-password-1"  # a throwaway test account's
KINDS = ("logout", "delete", "logout_all", "oauth_revoke")
SUCCESS = {"logout": 204, "delete": 204, "logout_all": 204, "oauth_revoke": 200}
ANNOUNCE_WAIT = "sessionjwt_feed_announce_wait_seconds"
START_TIMEOUT_S = 60.0
IO_TIMEOUT_S = 15.0  # one exchange; far above anything healthy, it only stops a hang
CONNECT_ATTEMPTS = 64  # to reach one chosen worker behind a shared listening socket
PHASES = ("healthy", "cut", "workers")


# -- a minimal HTTP/1.1 client ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One HTTP exchange: perf_counter seconds when it started, was sent, head and body came."""

    status: int
    error: str | None
    started: float
    sent: float
    head: float
    done: float
    body: bytes = b""

    @property
    def round_trip_ms(self) -> float:
        return (self.done - self.started) * 1000

    def json(self) -> Any:
        return json.loads(self.body)


class RawClient:
    """HTTP/1.1 keep-alive on one asyncio stream, for answers with a Content-Length (or none,
    like a 204).

    :meth:`send` hands the request to the socket at once (asyncio writes straight to the
    socket when nothing is queued), without awaiting anything, so that several requests can
    leave back to back; :meth:`receive` reads the answer. :meth:`request` does both, and
    reconnects first if the server closed the idle connection.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self._host = host
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._started = self._sent = 0.0

    @property
    def connected(self) -> bool:
        if self._streams is None:
            return False
        reader, writer = self._streams
        return not (reader.at_eof() or writer.is_closing())

    @property
    def local_port(self) -> int:
        """The client side's port: what the server sees as the peer."""
        assert self._streams is not None, "not connected"
        return int(self._streams[1].get_extra_info("sockname")[1])

    async def connect(self) -> None:
        await self.aclose()
        self._streams = await asyncio.wait_for(
            asyncio.open_connection(self._host, self.port), IO_TIMEOUT_S
        )

    def send(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        assert self._streams is not None, "not connected"
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        kind = f"Content-Type: {content_type}\r\n" if content_type else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}:{self.port}\r\n{auth}{kind}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._started = time.perf_counter()
        self._streams[1].write(head + body)
        self._sent = time.perf_counter()

    async def receive(self) -> Probe:
        assert self._streams is not None, "not connected"
        reader, writer = self._streams
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT_S)
        head_at = time.perf_counter()
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        if "transfer-encoding" in fields:
            raise RuntimeError("chunked answers are not supported by the raw client")
        length = int(fields.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT_S)
        done = time.perf_counter()
        if fields.get("connection") == "close":
            await self.aclose()
        return Probe(
            status, _error_code(status, body), self._started, self._sent, head_at, done, body
        )

    async def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        retry_stale: bool = False,
    ) -> Probe:
        reused = self.connected
        if not reused:
            await self.connect()
        self.send(method, path, token, body=body, content_type=content_type)
        if not retry_stale:
            return await self.receive()
        try:
            return await self.receive()
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
            # A kept-alive connection the server had just closed (its idle timeout, a busy
            # host): nothing was answered on it. Like any HTTP client, send once more on a new
            # connection.
            await self.aclose()
            await self.connect()
            self.send(method, path, token, body=body, content_type=content_type)
            return await self.receive()

    async def aclose(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _error_code(status: int, body: bytes) -> str | None:
    if status < 400:
        return None
    try:
        return str(json.loads(body).get("error"))
    except (ValueError, AttributeError):
        return body[:80].decode(errors="replace")


# -- which process holds a socket (Linux /proc) -------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid``'s children, their children, and so on (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(child) for child in (task / "children").read_text().split()]
                found.extend(children)
                pending.extend(children)
    return found


def worker_pids(supervisor: int) -> list[int]:
    """The uvicorn worker processes under ``supervisor`` (multiprocessing ``spawn_main``
    children; not its resource tracker), or ``[supervisor]`` if it serves by itself."""
    workers = []
    for pid in descendants(supervisor):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return sorted(workers) or [supervisor]


def _socket_inodes(local_port: int, remote_port: int) -> set[str]:
    """Inodes of the TCP sockets from 127.0.0.1:``local_port`` to ``remote_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10:
                    continue
                local, remote = fields[1], fields[2]
                if (
                    int(local.rsplit(":", 1)[1], 16) == local_port
                    and int(remote.rsplit(":", 1)[1], 16) == remote_port
                ):
                    inodes.add(fields[9])
    return inodes


def _owners(inodes: set[str], pids: Iterable[int]) -> list[int]:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    owners = []
    for pid in pids:
        with contextlib.suppress(OSError), os.scandir(f"/proc/{pid}/fd") as entries:
            for fd in entries:
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in wanted:
                        owners.append(pid)
                        break
    return owners


def socket_owner(client_port: int, server_port: int, pids: Iterable[int]) -> int | None:
    """Which of ``pids`` holds the server side of our connection from ``client_port`` to
    ``server_port``: the socket whose local port is the server's and remote port is ours in
    /proc/net/tcp, then the process whose /proc/<pid>/fd links to ``socket:[inode]``."""
    owners = _owners(_socket_inodes(server_port, client_port), pids)
    return owners[0] if len(owners) == 1 else None


# -- cutting one member's Redis connections -----------------------------------------------


def _member_pid(name: str) -> int | None:
    """``sjwt.<pid>-<hex>.listen`` -> pid."""
    if not name.startswith("sjwt."):
        return None
    head = name[len("sjwt.") :].split("-", 1)[0]
    return int(head) if head.isdigit() else None


async def member_connections(
    admin: aioredis.Redis, pids: Iterable[int], redis_port: int
) -> tuple[list[int], str]:
    """``CLIENT LIST`` ids of the Redis connections that belong to ``pids``, and how they were
    told apart: by client name (``sjwt.<pid>-<hex>.listen|publish``, set by the acknowledged
    feed), or — when no connection is named so — by each connection's client port mapped to
    its process through /proc."""
    wanted = set(pids)
    clients = await admin.client_list()
    named = [(c, _member_pid(str(c.get("name", "")))) for c in clients]
    if any(pid is not None for _, pid in named):
        return [int(c["id"]) for c, pid in named if pid in wanted], "name"
    found = []
    for client in clients:
        port = int(str(client.get("addr", ":0")).rsplit(":", 1)[1])
        if _owners(_socket_inodes(port, redis_port), wanted):
            found.append(int(client["id"]))
    return found, "proc"


async def kill_member_connections(
    admin: aioredis.Redis, pids: Iterable[int], redis_port: int
) -> tuple[int, str]:
    """``CLIENT KILL ID`` every Redis connection of ``pids``; how many, and how they were found."""
    ids, how = await member_connections(admin, pids, redis_port)
    killed = 0
    for client_id in ids:
        with contextlib.suppress(aioredis.RedisError):
            killed += int(await admin.client_kill_filter(_id=str(client_id)))
    return killed, how


class ConnectionCutter:
    """In the background, every ``interval`` s, cut the Redis connections of ``pids``."""

    def __init__(self, redis_port: int, pids: Sequence[int], interval: float) -> None:
        self._admin = aioredis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=2.0)
        self._redis_port = redis_port
        self._pids = list(pids)
        self._interval = interval
        self.cuts = 0  # rounds that killed at least one connection
        self.killed = 0
        self.found_by: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(aioredis.RedisError, OSError):
                killed, how = await kill_member_connections(
                    self._admin, self._pids, self._redis_port
                )
                self.found_by.add(how)
                self.killed += killed
                self.cuts += killed > 0
            await asyncio.sleep(self._interval)

    async def __aenter__(self) -> ConnectionCutter:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._admin.aclose()


# -- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Minted:
    access_token: str
    refresh_token: str
    session_id: str
    login_on: int  # index of the target it was logged in on
    kind: str = "logout"  # how it is to be revoked


def store_settings(env: Mapping[str, str]) -> Settings:
    """The servers' settings, for a short-lived process beside them that must not join their
    invalidation feed (it only registers users)."""
    values: dict[str, Any] = {
        name.removeprefix("SESSIONJWT_").lower(): value
        for name, value in env.items()
        if name.startswith("SESSIONJWT_")
    }
    values.pop("redis_url", None)
    values.pop("redis_namespace", None)
    values.pop("workers", None)
    values["invalidation"] = "host"
    return Settings(**values)


async def register_users(env: Mapping[str, str], emails: Sequence[str]) -> None:
    """New accounts (password :data:`PASSWORD`), straight into the servers' store."""
    settings = store_settings(env)
    await upgrade(settings.resolved_database_url)
    async with SessionJWT(settings) as auth:
        for start in range(0, len(emails), 16):
            batch = emails[start : start + 16]
            await asyncio.gather(*(auth.register(email, PASSWORD) for email in batch))


async def log_in(
    ports: Sequence[int], emails: Sequence[str], kinds: Sequence[str], concurrency: int = 8
) -> list[Minted]:
    """One ``POST /auth/login`` per email, round-robin over ``ports`` (the index is the
    session's ``login_on``), ``concurrency`` at a time; session ``i`` is for ``kinds[i]``."""
    queue = list(enumerate(emails))
    minted: dict[int, Minted] = {}

    async def worker() -> None:
        clients = [RawClient(port) for port in ports]
        try:
            while queue:
                index, email = queue.pop()
                on = index % len(ports)
                body = json.dumps({"email": email, "password": PASSWORD}).encode()
                answer = await clients[on].request(
                    "POST",
                    "/auth/login",
                    body=body,
                    content_type="application/json",
                    retry_stale=True,  # minting sessions, not measuring: a retry is harmless
                )
                if answer.status != 200:
                    raise RuntimeError(f"login answered {answer.status} {answer.body[:200]!r}")
                pair = answer.json()
                minted[index] = Minted(
                    pair["access_token"],
                    pair["refresh_token"],
                    pair["session_id"],
                    on,
                    kinds[index],
                )
        finally:
            for client in clients:
                await client.aclose()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [minted[index] for index in range(len(emails))]


async def prepare_sessions(
    env: Mapping[str, str],
    ports: Sequence[int],
    count: int,
    label: str,
    kinds: Sequence[str] = KINDS,
    shared_accounts: int = 16,
) -> list[Minted]:
    """``count`` live sessions, logged in over HTTP round-robin on ``ports``, to be revoked
    by ``kinds`` in turn. A sign-out-everywhere ends every session of its account, so each
    of those has an account of its own; the other kinds share a few accounts (registering is
    the expensive part)."""

    def new_email() -> str:
        return f"{label}-{secrets.token_hex(6)}@example.com"

    shared = [new_email() for _ in range(shared_accounts)]
    accounts = list(shared)
    emails, planned = [], []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        if kind == "logout_all":
            accounts.append(new_email())
            emails.append(accounts[-1])
        else:
            emails.append(shared[index % len(shared)])
        planned.append(kind)
    await register_users(env, accounts)
    return await log_in(ports, emails, planned)


# -- one revoke, and a phase of them ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """Where requests go: a port, and for a multi-worker server the worker pid that must
    serve the connection (``pid``), among all of them (``pids``)."""

    name: str
    port: int
    pid: int | None = None
    pids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Next:
    target: str
    status: int  # 0: the exchange failed
    error: str | None
    sent_after_ms: float  # when the request's last byte was written, after the revoke's head


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    revoker: str
    status: int  # the revoke's; 0: the exchange failed
    error: str | None
    revoke_ms: float
    baseline_ms: float  # a warm GET /auth/me alone just before, same connection
    next: tuple[Next, ...] = ()

    @property
    def returned(self) -> bool:
        return self.status == SUCCESS[self.kind]


def revoke_request(kind: str, session: Minted) -> tuple[str, str, str | None, bytes, str | None]:
    """method, path, bearer token, body and content type of a revoke of ``kind``."""
    if kind == "logout":
        return "POST", "/auth/logout", session.access_token, b"", None
    if kind == "delete":
        return "DELETE", f"/auth/sessions/{session.session_id}", session.access_token, b"", None
    if kind == "logout_all":
        return "POST", "/auth/logout-all", session.access_token, b"", None
    if kind == "oauth_revoke":
        body = f"token={session.refresh_token}".encode()
        return "POST", "/oauth/revoke", None, body, "application/x-www-form-urlencoded"
    raise ValueError(kind)


class Lane:
    """One keep-alive connection to each target; revokes one session at a time."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.targets = list(targets)
        self.clients = [RawClient(target.port) for target in self.targets]

    async def ensure(self, index: int) -> None:
        """Connected, and for a worker target served by that very worker."""
        client, target = self.clients[index], self.targets[index]
        if client.connected:
            return
        for _ in range(CONNECT_ATTEMPTS):
            await client.connect()
            if target.pid is None:
                return
            await client.request("GET", "/healthz")  # accepted by some worker by now
            if socket_owner(client.local_port, target.port, target.pids) == target.pid:
                return
        raise RuntimeError(
            f"no connection to {target.name} reached worker {target.pid} "
            f"in {CONNECT_ATTEMPTS} attempts"
        )

    async def open(self) -> None:
        for index in range(len(self.clients)):
            await self.ensure(index)

    def owners(self) -> list[int | None]:
        """The pid serving each connection now (for a check from outside)."""
        return [
            socket_owner(client.local_port, target.port, target.pids) if client.connected else None
            for client, target in zip(self.clients, self.targets, strict=True)
        ]

    async def _warm(self, index: int, token: str) -> Probe:
        for attempt in range(2):  # one retry: the server may have closed an idle connection
            await self.ensure(index)
            try:
                return await self.clients[index].request("GET", "/auth/me", token)
            except (OSError, asyncio.IncompleteReadError):
                await self.clients[index].aclose()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def revoke(
        self, session: Minted, kind: str, revoker: int, next_to: Sequence[int]
    ) -> Outcome:
        token = session.access_token
        warm = await asyncio.gather(*(self._warm(i, token) for i in range(len(self.clients))))
        for index, answer in enumerate(warm):
            if answer.status != 200:
                raise RuntimeError(
                    f"warm-up of a live session on {self.targets[index].name} answered "
                    f"{answer.status} {answer.error}"
                )
        for index in next_to:  # nothing to connect after the revoke returns
            await self.ensure(index)
        # The baseline: the cheapest authenticated request, alone on the revoker's connection
        # right before the revoke, so both see the same machine, the same lanes in flight.
        baseline = await self._warm(revoker, token)
        method, path, bearer, body, content_type = revoke_request(kind, session)
        name = self.targets[revoker].name
        try:
            revoked = await self.clients[revoker].request(
                method, path, bearer, body=body, content_type=content_type
            )
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            await self.clients[revoker].aclose()
            return Outcome(kind, name, 0, repr(error), 0.0, baseline.round_trip_ms)
        outcome = Outcome(
            kind,
            name,
            revoked.status,
            revoked.error,
            revoked.round_trip_ms,
            baseline.round_trip_ms,
        )
        if not outcome.returned:
            return outcome
        t0 = revoked.head  # the earliest moment the revoke is known to have returned
        for index in next_to:  # all written before anything is awaited
            self.clients[index].send("GET", "/auth/me", token)
        answers = await asyncio.gather(
            *(self.clients[index].receive() for index in next_to), return_exceptions=True
        )
        seen = []
        for index, got in zip(next_to, answers, strict=True):
            target = self.targets[index].name
            if isinstance(got, BaseException):
                await self.clients[index].aclose()
                seen.append(Next(target, 0, repr(got), 0.0))
            else:
                seen.append(Next(target, got.status, got.error, (got.sent - t0) * 1000))
        return Outcome(
            kind, name, revoked.status, revoked.error, revoked.round_trip_ms,
            baseline.round_trip_ms, tuple(seen),
        )  # fmt: skip

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


@dataclass(slots=True)
class PhaseResult:
    label: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def returned(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.returned]

    @property
    def next_requests(self) -> list[Next]:
        return [answer for outcome in self.returned for answer in outcome.next]

    @property
    def accepted(self) -> list[tuple[Outcome, Next]]:
        """Next requests answered 200 although the revoke had returned."""
        return [(o, n) for o in self.returned for n in o.next if n.status == 200]

    @property
    def unexpected(self) -> list[tuple[Outcome, Next]]:
        """Next requests neither accepted nor refused with ``session_revoked``."""
        return [
            (o, n)
            for o in self.returned
            for n in o.next
            if n.status != 200 and (n.status, n.error) != (401, "session_revoked")
        ]

    def revoke_statuses(self) -> Counter[str]:
        return Counter(
            str(o.status) if o.status in (200, 204) else f"{o.status} {o.error}"
            for o in self.outcomes
        )

    def summary(self) -> str:
        nexts = self.next_requests
        refused = sum(1 for n in nexts if (n.status, n.error) == (401, "session_revoked"))
        kinds = Counter(o.kind for o in self.returned)
        accepted = self.accepted[:3]
        unexpected = self.unexpected[:3]
        return (
            f"{self.label}: {len(self.returned)} of {len(self.outcomes)} revokes returned "
            f"(revoke answers {dict(self.revoke_statuses())}; returned by kind {dict(kinds)}); "
            f"{len(nexts)} next requests after them: {len(self.accepted)} accepted (200), "
            f"{refused} refused session_revoked, {len(self.unexpected)} other"
            + (f"; accepted e.g. {accepted}" if accepted else "")
            + (f"; other e.g. {unexpected}" if unexpected else "")
            + f"; {self.seconds:.1f} s"
        )


Plan = Callable[[int, Minted], tuple[int, list[int]]]


def plan_other_instances(count: int) -> Plan:
    """Revoke on an instance other than the login's (rotating); the next request to every
    instance but the revoker."""

    def plan(sequence: int, session: Minted) -> tuple[int, list[int]]:
        revoker = (session.login_on + 1 + sequence % (count - 1)) % count
        return revoker, [index for index in range(count) if index != revoker]

    return plan


def plan_every_worker(count: int) -> Plan:
    """Revoke through each worker in turn; the next request to every worker, that one too."""

    def plan(sequence: int, _session: Minted) -> tuple[int, list[int]]:
        return sequence % count, list(range(count))

    return plan


async def run_phase(
    label: str,
    lanes: Sequence[Lane],
    sessions: Iterable[Minted],
    plan: Plan,
    *,
    want_returned: int,
    deadline_s: float,
    until: Callable[[], bool] = lambda: True,
) -> PhaseResult:
    """Revoke sessions (each by its ``kind``) on every lane at once until ``want_returned``
    revokes have returned and ``until()`` is true, the sessions run out or ``deadline_s``
    has passed."""
    result = PhaseResult(label)
    supply: Iterator[Minted] = iter(sessions)
    sequence = itertools.count()
    started = time.perf_counter()
    deadline = time.monotonic() + deadline_s

    async def drive(lane: Lane) -> None:
        while (len(result.returned) < want_returned or not until()) and (
            time.monotonic() < deadline
        ):
            session = next(supply, None)
            if session is None:
                return
            number = next(sequence)
            revoker, next_to = plan(number, session)
            result.outcomes.append(await lane.revoke(session, session.kind, revoker, next_to))

    await asyncio.gather(*(drive(lane) for lane in lanes))
    result.seconds = time.perf_counter() - started
    return result


# -- the server-side histogram ------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(slots=True)
class Histogram:
    buckets: dict[float, float] = field(default_factory=dict)  # cumulative, by upper bound
    count: float = 0.0
    total: float = 0.0

    def minus(self, earlier: Histogram) -> Histogram:
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.count - earlier.count,
            self.total - earlier.total,
        )

    def plus(self, other: Histogram) -> Histogram:
        bounds = set(self.buckets) | set(other.buckets)
        return Histogram(
            {le: self.buckets.get(le, 0.0) + other.buckets.get(le, 0.0) for le in bounds},
            self.count + other.count,
            self.total + other.total,
        )

    def quantile_bound(self, fraction: float) -> float:
        """The upper bound of the bucket holding the ``fraction`` quantile (seconds)."""
        for le in sorted(self.buckets):
            if self.buckets[le] >= fraction * self.count:
                return le
        return float("inf")


def parse_announce_wait(text: str) -> dict[str, Histogram]:
    """``sessionjwt_feed_announce_wait_seconds`` by ``outcome`` from Prometheus text."""
    found: dict[str, Histogram] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or not match["name"].startswith(ANNOUNCE_WAIT):
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        histogram = found.setdefault(labels.get("outcome", ""), Histogram())
        value = float(match["value"])
        suffix = match["name"][len(ANNOUNCE_WAIT) :]
        if suffix == "_bucket":
            histogram.buckets[float(labels["le"])] = value
        elif suffix == "_count":
            histogram.count = value
        elif suffix == "_sum":
            histogram.total = value
    return found


async def scrape_announce_wait(lanes: Sequence[Lane]) -> dict[str, Histogram]:
    """The histogram summed over every target (each scraped through the first lane's own
    connection to it, so each worker of a multi-worker server is read once)."""
    total: dict[str, Histogram] = {}
    lane = lanes[0]
    for index in range(len(lane.clients)):
        await lane.ensure(index)
        answer = await lane.clients[index].request("GET", "/metrics")
        if answer.status != 200:
            continue
        for outcome, histogram in parse_announce_wait(answer.body.decode()).items():
            total[outcome] = total.get(outcome, Histogram()).plus(histogram)
    return total


def histogram_delta(
    after: Mapping[str, Histogram], before: Mapping[str, Histogram]
) -> dict[str, Histogram]:
    return {
        outcome: histogram.minus(before.get(outcome, Histogram()))
        for outcome, histogram in after.items()
    }


# -- the benchmark ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    revokes: int
    instances: int
    lanes: int
    phases: tuple[str, ...]
    cut_interval: float
    check_target: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="benchmarks/visibility.py",
        description="Count the next requests accepted after a revoke returned, and price it.",
    )
    parser.add_argument(
        "--revokes", type=common.at_least(1), default=1000, help="returned revokes per phase"
    )
    parser.add_argument(
        "--instances", type=common.at_least(2), default=4, help="server processes (healthy, cut)"
    )
    parser.add_argument(
        "--lanes",
        type=common.at_least(1),
        default=1,
        help="revokes in flight at once (more: faster, but the latencies include queueing "
        "for the machine's cores)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated, of {', '.join(PHASES)}",
    )
    parser.add_argument(
        "--cut-interval",
        type=float,
        default=0.05,
        help="seconds between two cuts of the member's Redis connections (phase cut)",
    )
    parser.add_argument(
        "--check-target", action="store_true", help="exit 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    phases = tuple(name.strip() for name in args.phases.split(",") if name.strip())
    unknown = set(phases) - set(PHASES)
    if unknown or not phases:
        parser.error(f"--phases: unknown {sorted(unknown)}; choose from {', '.join(PHASES)}")
    return Options(
        args.revokes, args.instances, args.lanes, phases, args.cut_interval, args.check_target
    )


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "no samples"
    p50, p99 = common.percentile(values, 0.5), common.percentile(values, 0.99)
    return f"p50 {p50:.2f}  p99 {p99:.2f}  max {max(values):.2f} ms (n={len(values)})"


def _ratio(values: Sequence[float]) -> str:
    if not values:
        return "no samples"
    p50, p99 = common.percentile(values, 0.5), common.percentile(values, 0.99)
    return f"p50 {p50:.2f}x  p99 {p99:.2f}x"


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: int
    added_p99_ms: float
    broken: bool  # unexpected answers, or no revoke returned at all


def report_phase(
    result: PhaseResult, histogram: Mapping[str, Histogram], extra: str = ""
) -> Verdict:
    returned = result.returned
    revoke = [o.revoke_ms for o in returned]
    baseline = [o.baseline_ms for o in returned]
    added = [o.revoke_ms - o.baseline_ms for o in returned]
    ratios = [o.revoke_ms / o.baseline_ms for o in returned if o.baseline_ms > 0]
    print()
    print(f"== {result.summary()}")
    if extra:
        print(f"   {extra}")
    print(f"   next requests accepted after the revoke returned: {len(result.accepted)} "
          f"of {len(result.next_requests)} (target {TARGET_ACCEPTED})")  # fmt: skip
    late = [n.sent_after_ms for n in result.next_requests]
    print(f"   next request written after the revoke's head: {_ms(late)}")
    print(f"   revoke round trip:                 {_ms(revoke)}")
    print(f"   baseline (warm GET /auth/me alone, same connection, just before): {_ms(baseline)}")
    print(f"   added by the revoke (revoke - baseline, per revoke): {_ms(added)}")
    print(f"   revoke / baseline, per revoke: {_ratio(ratios)}")
    if baseline:
        print(
            f"   medians: revoke {statistics.median(revoke):.2f} ms / baseline "
            f"{statistics.median(baseline):.2f} ms = "
            f"{statistics.median(revoke) / statistics.median(baseline):.2f}x"
        )
    if histogram:
        for outcome, h in sorted(histogram.items()):
            if h.count <= 0:
                continue
            print(
                f"   server {ANNOUNCE_WAIT}{{outcome={outcome!r}}}: n={h.count:.0f}, "
                f"mean {h.total / h.count * 1000:.2f} ms, p50 ≤ {h.quantile_bound(0.5) * 1000:g} "
                f"ms, p99 ≤ {h.quantile_bound(0.99) * 1000:g} ms"
            )
    else:
        print(f"   server {ANNOUNCE_WAIT}: not exported by this version")
    added_p99 = common.percentile(added, 0.99) if added else float("inf")
    return Verdict(len(result.accepted), added_p99, bool(result.unexpected) or not returned)


async def wait_healthy(
    ports: Sequence[int], path: str = "/healthz", within_s: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + within_s
    for port in ports:
        client = RawClient(port)
        try:
            while True:
                with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
                    if (await client.request("GET", path)).status == 200:
                        break
                await client.aclose()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"port {port} did not answer {path} 200 in {within_s:g} s")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()


def _start(env: Mapping[str, str], log: Path, *args: str) -> common.Server:
    port = common.free_port()
    command = [sys.executable, "-m", "sessionjwt.server.cli", "serve", "--port", str(port), *args]
    return common.start_server(command, port, env, log)


@contextlib.asynccontextmanager
async def servers_running(
    count: int, env: Mapping[str, str], log_dir: Path, *args: str
) -> AsyncIterator[list[common.Server]]:
    servers: list[common.Server] = []
    try:
        for index in range(count):
            servers.append(_start(env, log_dir / f"server-{index}.log", *args))
        for server in servers:
            try:
                await wait_healthy([server.port])
            except RuntimeError as error:
                raise RuntimeError(f"{error}:\n{server.log_tail()}") from error
        yield servers
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait_stopped()


async def open_lanes(targets: Sequence[Target], count: int) -> list[Lane]:
    lanes = [Lane(targets) for _ in range(count)]
    for lane in lanes:
        await lane.open()
    return lanes


async def close_lanes(lanes: Sequence[Lane]) -> None:
    for lane in lanes:
        await lane.aclose()


def _sessions_needed(options: Options) -> int:
    # Room for revokes that answer 503 while a connection is cut, and for lanes in flight.
    return options.revokes + options.revokes // 2 + 4 * options.lanes


async def _sessions(
    env: Mapping[str, str], ports: Sequence[int], count: int, label: str
) -> list[Minted]:
    started = time.perf_counter()
    sessions = await prepare_sessions(env, ports, count, label)
    print(f"\n{label}: {len(sessions)} sessions logged in over HTTP "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return sessions


async def cluster_phases(
    options: Options, redis_port: int, url: str, tmp: Path
) -> list[tuple[str, Verdict]]:
    env = {
        **common.server_env(tmp, url, common.redis_namespace()),
        "SESSIONJWT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SESSIONJWT_REVOKE_RATE_LIMIT_IP": "1000000/minute",
    }
    # This process migrates and makes the master key and the signing key before any server
    # starts, so that the servers never race to make them.
    await register_users(env, [])
    verdicts: list[tuple[str, Verdict]] = []
    async with servers_running(options.instances, env, tmp) as servers:
        ports = [server.port for server in servers]
        targets = [Target(f"instance {index}", port) for index, port in enumerate(ports)]
        print(
            f"{options.instances} `sessionjwt serve` processes on one PostgreSQL database + a "
            f"redis-server of this run (port {redis_port}); {options.lanes} revoke(s) in flight"
        )
        plan = plan_other_instances(len(targets))
        lanes = await open_lanes(targets, options.lanes)
        try:
            for phase in ("healthy", "cut"):
                if phase not in options.phases:
                    continue
                sessions = await _sessions(env, ports, _sessions_needed(options), phase)
                before = await scrape_announce_wait(lanes)
                label = f"{phase}, {len(targets)} instances"
                if phase == "healthy":
                    result = await run_phase(
                        label, lanes, sessions, plan, want_returned=options.revokes, deadline_s=600
                    )
                    extra = ""
                else:
                    victim = servers[-1]
                    pids = [victim.process.pid, *descendants(victim.process.pid)]
                    async with ConnectionCutter(redis_port, pids, options.cut_interval) as cutter:
                        result = await run_phase(
                            f"{label}, instance {len(targets) - 1}'s Redis connections cut",
                            lanes, sessions, plan, want_returned=options.revokes, deadline_s=600,
                        )  # fmt: skip
                    extra = (
                        f"cut every {options.cut_interval * 1000:g} ms: {cutter.killed} "
                        f"connections killed in {cutter.cuts} cuts (found by "
                        f"{', '.join(sorted(cutter.found_by)) or '-'})"
                    )
                    await wait_healthy(ports, "/readyz", within_s=30)
                after = await scrape_announce_wait(lanes)
                verdicts.append(
                    (phase, report_phase(result, histogram_delta(after, before), extra))
                )
        finally:
            await close_lanes(lanes)
    return verdicts


async def workers_phase(options: Options, tmp: Path) -> Verdict | None:
    env = {**common.server_env(tmp), "SESSIONJWT_REVOKE_RATE_LIMIT_IP": "1000000/minute"}
    await register_users(env, [])  # migrated, keys made, before the server starts
    async with servers_running(1, env, tmp, "--workers", "2") as servers:
        server = servers[0]
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(pids := worker_pids(server.process.pid)) < 2:
            if time.monotonic() > deadline:
                print(f"\nworkers: `serve --workers 2` runs {len(pids)} worker(s); skipped")
                return None
            await asyncio.sleep(0.1)
        targets = [Target(f"worker {pid}", server.port, pid, tuple(pids)) for pid in pids]
        lanes = await open_lanes(targets, options.lanes)
        try:
            owners = sorted({pid for lane in lanes for pid in lane.owners() if pid is not None})
            sessions = await _sessions(env, [server.port], _sessions_needed(options), "workers")
            print(f"workers: the lanes' connections are served by pids {owners} (workers {pids})")
            before = await scrape_announce_wait(lanes)
            result = await run_phase(
                "workers, `serve --workers 2` on SQLite", lanes, sessions,
                plan_every_worker(len(targets)), want_returned=options.revokes, deadline_s=600,
            )  # fmt: skip
            after = await scrape_announce_wait(lanes)
            return report_phase(result, histogram_delta(after, before))
        finally:
            await close_lanes(lanes)


def serve_has_workers() -> bool:
    shown = subprocess.run(
        [sys.executable, "-m", "sessionjwt.server.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    return "--workers" in shown.stdout


async def run(options: Options, url: str | None) -> int:
    verdicts: list[tuple[str, Verdict]] = []
    with tempfile.TemporaryDirectory(prefix="sessionjwt-visibility-") as tmp:
        root = Path(tmp)
        if url is not None:
            from tests.cluster.harness import ThrowawayRedis

            executable = shutil.which("redis-server")
            assert executable is not None
            (root / "cluster").mkdir()
            redis_server = ThrowawayRedis(executable, root / "redis-server.log")
            redis_server.start()
            try:
                verdicts += await cluster_phases(options, redis_server.port, url, root / "cluster")
            finally:
                redis_server.stop()
        if "workers" in options.phases:
            if not serve_has_workers():
                print("\nworkers: this version's `sessionjwt serve` has no --workers; skipped")
            else:
                (root / "workers").mkdir()
                verdict = await workers_phase(options, root / "workers")
                if verdict is not None:
                    verdicts.append(("workers", verdict))
    return conclude(options, verdicts)


def conclude(options: Options, verdicts: Sequence[tuple[str, Verdict]]) -> int:
    print()
    met = True
    broken = False
    for name, verdict in verdicts:
        ok = verdict.accepted == TARGET_ACCEPTED and not verdict.broken
        line = f"{name}: accepted next requests {verdict.accepted} (target {TARGET_ACCEPTED})"
        if name in ("healthy", "workers"):
            ok = ok and verdict.added_p99_ms <= TARGET_ADDED_P99_MS
            line += (
                f", added revoke latency p99 {verdict.added_p99_ms:.2f} ms "
                f"(target ≤ {TARGET_ADDED_P99_MS:g} ms)"
            )
        print(f"{line}: {'PASS' if ok else 'FAIL'}")
        met = met and ok
        broken = broken or verdict.broken
    if broken:
        return 1
    return 1 if options.check_target and not met else 0


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    print(f"{common.machine()}, load average {os.getloadavg()[0]:.2f}")
    cluster = any(name in options.phases for name in ("healthy", "cut"))
    if cluster:
        reason = backends.postgres_unavailable_reason() or (
            None if shutil.which("redis-server") else "redis-server is not installed"
        )
        if reason is not None:
            print(f"cannot run: {reason}")
            return 2
        # The helpers run their own event loop, so the database is made and dropped out here.
        with common.throwaway_database() as (_name, url):
            return asyncio.run(run(options, url))
    return asyncio.run(run(options, None))


if __name__ == "__main__":
    sys.exit(main())
