"""Processes and HTTP helpers for the cluster tests; the fixtures are in ``conftest.py``.

Every instance is a real ``python -m sessionjwt.server.cli serve`` process on its own free
port, configured only through ``SESSIONJWT_*`` variables (the caller's own ``SESSIONJWT_*``
variables are dropped, so nothing leaks in). They share one PostgreSQL database and one data
directory (one master key: the signing keys live encrypted in the database).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sessionjwt import SessionJWT, Settings
from sessionjwt.db.migrate import upgrade
from tests.conftest import PASSWORD, _require, bearer

ISSUER = "https://auth.cluster.test"
AUDIENCE = "https://api.cluster.test"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0  # a healthy instance stops in well under a second
CLI_TIMEOUT_S = 60.0
NAMES = "ABCDEFGH"
# Output that means an instance failed somewhere no HTTP answer shows (a background task, the
# lifespan): a test that passes while one of these was printed has not passed.
TROUBLE = ("Traceback", "ERROR:", "shutdown failed", "exception was never retrieved")
INSTANCES = 3
FEED_STALE_AFTER_S = 1.0  # the outage cluster's SESSIONJWT_FEED_STALE_AFTER
FEED_HEARTBEAT_S = 0.2  # the default, pinned
SLOW_LINK_STALE_AFTER_S = 1.0  # the slow-link cluster's: the longest lease allowed


def free_port() -> int:
    """A port nobody listens on right now (bind to 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def restartable_port() -> int:
    """A free port below the kernel's ephemeral range, for a server that is killed and
    restarted on the same port: while it is down, no outgoing connection (of any process on
    the machine) can be given it as a source port and keep the restart from binding it."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        ephemeral_low = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    if ephemeral_low <= 12000:
        return free_port()
    for _ in range(200):
        port = 10000 + secrets.randbelow(ephemeral_low - 10000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def unique_email(label: str) -> str:
    return f"{label}-{secrets.token_hex(5)}@example.com"


def unique_namespace() -> str:
    return f"sjcluster-{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class SharedStore:
    """What every instance of every cluster in this run shares: database and master key."""

    database_url: str
    data_dir: Path


async def bootstrap_store(store: SharedStore) -> None:
    """Migrate the database and create the master key and the first signing key, before any
    instance starts, so instances never race to create them."""
    await upgrade(store.database_url)
    settings = Settings(
        database_url=store.database_url,
        data_dir=store.data_dir,
        master_key_file=store.data_dir / "master.key",
        redis_url=None,
        invalidation="host",  # this one short-lived process needs no feed
        issuer=ISSUER,
        audience=AUDIENCE,
        signing_algorithm="EdDSA",
    )
    async with SessionJWT(settings):  # creates master.key and the first signing key
        pass


def service_env(
    store: SharedStore, *, redis_url: str, namespace: str, **overrides: str
) -> dict[str, str]:
    """The complete environment of an instance (or of the CLI run beside it)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SESSIONJWT_")}
    env.update(
        {
            "SESSIONJWT_DATABASE_URL": store.database_url,
            "SESSIONJWT_DATA_DIR": str(store.data_dir),
            "SESSIONJWT_REDIS_URL": redis_url,
            "SESSIONJWT_REDIS_NAMESPACE": namespace,
            "SESSIONJWT_ISSUER": ISSUER,
            "SESSIONJWT_AUDIENCE": AUDIENCE,
            # Cheap hashing and limits out of the way: neither is what these tests are about.
            "SESSIONJWT_ARGON2_TIME_COST": "1",
            "SESSIONJWT_ARGON2_MEMORY_COST_KIB": "1024",
            "SESSIONJWT_ARGON2_PARALLELISM": "1",
            "SESSIONJWT_LOGIN_RATE_LIMIT_IP": "10000/minute",
            "SESSIONJWT_LOGIN_FAILURES_PER_ACCOUNT": "10000/minute",
            "SESSIONJWT_REFRESH_RATE_LIMIT_IP": "10000/minute",
            "SESSIONJWT_REGISTER_RATE_LIMIT_IP": "10000/minute",
            "COLUMNS": "250",  # rich: keep CLI output on one line
        }
    )
    env.update({f"SESSIONJWT_{name.upper()}": value for name, value in overrides.items()})
    return env


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- server instances -----------------------------------------------------------------------


class Instance:
    def __init__(self, name: str, port: int, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sessionjwt.server.cli", "serve", "--port", str(port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[str]:
        """The instance's output without uvicorn's access log lines."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in text if ' HTTP/1.1" ' not in line]

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_lines()[-lines:])

    def trouble(self) -> list[str]:
        """Log lines that show an unhandled failure inside the instance."""
        return [line for line in self.log_lines() if any(mark in line for mark in TROUBLE)]

    def stop(self) -> None:
        try:
            stop_process(self.process)
        finally:
            self._log.close()


class Cluster:
    """N running instances, one sync HTTP client each, and the CLI with the same settings."""

    def __init__(self, env: dict[str, str], instances: Sequence[Instance]) -> None:
        self.env = env
        self.instances = list(instances)
        self.clients = [
            httpx.Client(base_url=instance.base_url, timeout=15.0, trust_env=False)
            for instance in self.instances
        ]

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``sessionjwt ARGS`` as a separate process, configured exactly like the instances."""
        command = [sys.executable, "-m", "sessionjwt.server.cli", *args]
        return subprocess.run(
            command,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            input=stdin,
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- instance {instance.name} (port {instance.port}, "
            f"exit {instance.process.poll()}) ---\n{instance.log_tail()}"
            for instance in self.instances
        )

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        for instance, client in zip(self.instances, self.clients, strict=True):
            while True:
                if instance.process.poll() is not None:
                    raise RuntimeError(
                        f"instance {instance.name} exited with {instance.process.returncode} "
                        f"before answering /healthz:\n{instance.log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/healthz", timeout=1.0).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"instance {instance.name} did not answer /healthz within {timeout:g} s:"
                        f"\n{instance.log_tail()}"
                    )
                time.sleep(0.05)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for instance in self.instances:
            instance.stop()

    def died(self) -> list[str]:
        return [
            f"{instance.name} (exit {instance.process.returncode})"
            for instance in self.instances
            if instance.process.poll() is not None
        ]


@contextlib.contextmanager
def running_cluster(
    env: dict[str, str],
    log_dir: Path,
    count: int = INSTANCES,
    per_instance: Mapping[str, Mapping[str, str]] | None = None,
    *,
    check_logs: bool = True,
) -> Iterator[Cluster]:
    """Start ``count`` instances at once, wait until each answers, stop them all afterwards.

    ``per_instance`` adds variables for the named instances (``{"B": {...}}``). An instance
    that dies while the tests run is an error at teardown, with its log; so is one that
    printed a traceback or failed its shutdown, unless ``check_logs`` is False.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    instances: list[Instance] = []
    try:
        for name in NAMES[:count]:
            own_env = {**env, **(per_instance or {}).get(name, {})}
            log_path = log_dir / f"instance-{name}.log"
            instances.append(Instance(name, free_port(), own_env, log_path))
    except BaseException:
        for instance in instances:
            instance.stop()
        raise
    cluster = Cluster(env, instances)
    try:
        cluster.wait_ready()
        yield cluster
        died = cluster.died()
        assert not died, f"instances died during the tests: {died}\n{cluster.logs()}"
    finally:
        cluster.close()
    trouble = {i.name: found for i in cluster.instances if (found := i.trouble())}
    assert not (check_logs and trouble), f"instances reported failures: {trouble}\n{cluster.logs()}"


# -- a Redis server of our own ----------------------------------------------------------------


class ThrowawayRedis:
    """A ``redis-server`` on its own free port that only this test uses (and may kill)."""

    def __init__(self, executable: str, log_path: Path) -> None:
        self.executable = executable
        self.port = restartable_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),  # a probe answers now, not after redis-py's retries
        )

    def start(self, timeout: float = 10.0) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server on port {self.port} exited with {self.process.returncode}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            with contextlib.suppress(redis.RedisError), self.client() as probe:
                if probe.ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the connected clients, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@contextlib.contextmanager
def throwaway_redis_server(log_dir: Path) -> Iterator[ThrowawayRedis]:
    """Never the machine's Redis: this one is ours to SIGKILL and restart."""
    executable = shutil.which("redis-server")
    _require(None if executable else "redis-server is not installed (Redis outage tests)")
    assert executable is not None
    server = ThrowawayRedis(executable, log_dir / "redis-server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class SubscribeDelayingProxy:
    """A TCP proxy in front of Redis for one instance: a slow link, on demand.

    Bytes pass through unchanged, except that once armed with :meth:`hold_subscribes`, new
    connections are refused for a moment, then every chunk the instance sends that carries a
    ``SUBSCRIBE`` command is held until the given time has passed since the first of them:
    that instance's resubscription reaches Redis late, as over a congested or distant link,
    while its established connections (publishing, rate limits) flow. The refusals make the
    instance give up any quick reconnect and go through its feed's own reconnect loop, so the
    first SUBSCRIBE held is the one that loop sends.
    """

    COMMAND = b"\r\nSUBSCRIBE\r\n"  # RESP: *2 $9 SUBSCRIBE $n <channel>

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._hold_s: float | None = None
        self._release_at: float | None = None
        self._refuse_until = 0.0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._listener.settimeout(0.1)  # accept() wakes up to notice close()
        self.holding = threading.Event()  # a SUBSCRIBE has been held
        self.released = threading.Event()  # ... and the hold is over
        self._spawn(self._accept_forever)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def hold_subscribes(self, seconds: float, refuse_connections_for: float = 0.3) -> None:
        with self._lock:
            self._hold_s, self._release_at = seconds, None
            self._refuse_until = time.monotonic() + refuse_connections_for
        self.holding.clear()
        self.released.clear()

    def _held_until(self) -> float | None:
        """When a SUBSCRIBE seen now may go on, or None if it need not wait."""
        with self._lock:
            if self._hold_s is None:
                return None
            now = time.monotonic()
            if self._release_at is None:
                self._release_at = now + self._hold_s
            if now >= self._release_at:
                self._hold_s = self._release_at = None
                return None
            return self._release_at

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_forever(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            client.settimeout(None)
            with self._lock:
                refuse = time.monotonic() < self._refuse_until
            if refuse:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self._upstream_port), timeout=2)
            except OSError:
                client.close()  # Redis is down: so is the link
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                if outbound and self.COMMAND in data:
                    release_at = self._held_until()
                    if release_at is not None:
                        self.holding.set()
                        time.sleep(max(0.0, release_at - time.monotonic()))
                        self.released.set()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):  # either side gone: the link is gone
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@dataclass(frozen=True, slots=True)
class SlowLink:
    cluster: Cluster
    redis: ThrowawayRedis
    proxy: SubscribeDelayingProxy  # between instance B and ``redis``


def channel_of(cluster: Cluster) -> str:
    return f"{cluster.env['SESSIONJWT_REDIS_NAMESPACE']}:invalidations"


def subscribers(redis_server: ThrowawayRedis, cluster: Cluster) -> int:
    """How many clients listen on the cluster's invalidation channel right now."""
    channel = channel_of(cluster)
    with redis_server.client() as admin:
        return int(dict(admin.pubsub_numsub(channel)).get(channel.encode(), 0))


def wait_for_subscribers(
    redis_server: ThrowawayRedis,
    cluster: Cluster,
    count: int = INSTANCES,
    timeout: float = 15.0,
) -> float:
    """Poll Redis until exactly ``count`` clients listen on the cluster's invalidation
    channel; the seconds it took. On time-out, say who is connected and what the instances
    logged."""
    channel = channel_of(cluster)
    started = time.monotonic()
    deadline = started + timeout
    with redis_server.client() as admin:
        while True:
            listening = dict(admin.pubsub_numsub(channel)).get(channel.encode(), 0)
            if listening == count:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                clients = "\n".join(
                    f"{c.get('addr')} {c.get('cmd')} sub={c.get('sub')} age={c.get('age')}"
                    for c in admin.client_list()
                )
                raise TimeoutError(
                    f"{listening}/{count} subscribers on {channel} after {timeout:g} s; "
                    f"Redis clients:\n{clients}\n{cluster.logs()}"
                )
            time.sleep(0.02)


# -- HTTP helpers -----------------------------------------------------------------------------


def error_code(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("error")) if isinstance(body, dict) else None


def expect(
    response: httpx.Response, status: int, error: str | None = None, *, where: str = ""
) -> None:
    """Assert the status and, for refusals, the exact machine-readable error code."""
    context = f" ({where})" if where else ""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}{context}: expected {status} "
        f"{error or ''}, got {response.status_code} {response.text[:300]}"
    )
    if error is not None:
        assert error_code(response) == error, (
            f"{response.request.method} {response.request.url}{context}: expected error "
            f"{error!r}, got {response.text[:300]}"
        )


def me(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/auth/me", headers=bearer(token))


def register(client: httpx.Client, email: str, password: str = PASSWORD) -> None:
    expect(client.post("/auth/register", json={"email": email, "password": password}), 201)


def login(
    client: httpx.Client, email: str, password: str = PASSWORD, device: str = "pytest-cluster"
) -> dict[str, Any]:
    response = client.post(
        "/auth/login",
        json={"email": email, "password": password},
        headers={"User-Agent": device},
    )
    expect(response, 200)
    body: dict[str, Any] = response.json()
    return body


def assert_live_everywhere(clients: Sequence[httpx.Client], token: str, what: str = "") -> None:
    """Every instance answers 200 for ``token`` (and so holds its session warm in memory)."""
    for client in clients:
        expect(me(client, token), 200, where=what)


def assert_refused_everywhere(
    clients: Sequence[httpx.Client], token: str, error: str, what: str = ""
) -> None:
    """The very next request on every instance is refused with exactly ``error``."""
    for client in clients:
        expect(me(client, token), 401, error, where=what)


def warm_session(
    cluster: Cluster,
    label: str,
    *,
    register_on: httpx.Client,
    login_on: httpx.Client,
    what: str = "warm-up",
) -> dict[str, Any]:
    """A new user, registered through one instance and logged in through another, whose
    session every instance has then accepted, so each holds it warm in memory (a refusal
    after that comes from the invalidation feed, not from a cold read). The login's body."""
    email = unique_email(label)
    register(register_on, email)
    session = login(login_on, email)
    assert_live_everywhere(cluster.clients, session["access_token"], what)
    return session
