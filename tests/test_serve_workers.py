"""``sessionjwt serve --workers N`` as a real process on SQLite: it answers, it runs N worker
processes, and on SIGTERM it finishes the request in flight, writes the coalesced last-seen
times (``SessionJWT.close()`` in every worker's lifespan shutdown) and exits 0.

How each claim is shown:

* N workers: the supervisor's children on /proc that run ``multiprocessing.spawn`` (the
  resource tracker aside), and one "Started server process [pid]" line per worker.
* last-seen flushed at shutdown, not by the periodic flush: the session is made with a clock
  two minutes back and ``last_seen_resolution`` is 60 s, so the check the server makes marks
  it dirty, while the periodic flush (every 60 s) cannot have run before the SIGTERM.
* in flight: a login whose body is only half sent when the SIGTERM arrives; the rest is sent
  once every worker has logged "Shutting down", and the login must still answer 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from tests.cluster.harness import free_port
from tests.conftest import AUDIENCE, ISSUER, PASSWORD

EMAIL = "worker@example.com"
START_TIMEOUT_S = 30.0
STOP_WITHIN_S = 5.0
BACKDATED_S = 120.0  # the session's last-seen, before the server starts
SECRET_QUERY = "query-secret-5c0ffee"
COOKIE_VALUE = "cookie-secret-d00d1e"


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SESSIONJWT_")}
    env.update(
        {
            "SESSIONJWT_DATA_DIR": str(data_dir),
            "SESSIONJWT_ISSUER": ISSUER,
            "SESSIONJWT_AUDIENCE": AUDIENCE,
            "SESSIONJWT_ARGON2_TIME_COST": "1",
            "SESSIONJWT_ARGON2_MEMORY_COST_KIB": "1024",
            "SESSIONJWT_ARGON2_PARALLELISM": "1",
            "SESSIONJWT_LAST_SEEN_RESOLUTION": "60",
            **extra,
        }
    )
    return env


def settings_for(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        issuer=ISSUER,
        audience=AUDIENCE,
        argon2_time_cost=1,
        argon2_memory_cost_kib=1024,
        argon2_parallelism=1,
    )


async def backdated_session(settings: Settings) -> tuple[str, str, str]:
    """(user id, session id, access token) of a session last seen two minutes ago."""
    async with SessionJWT(settings, clock=ManualClock(time.time() - BACKDATED_S)) as auth:
        user = await auth.register(EMAIL, PASSWORD)
        pair = await auth.login(EMAIL, PASSWORD)
    return user.id, pair.session_id, pair.access_token


async def last_seen(settings: Settings, user_id: str, session_id: str) -> float:
    async with SessionJWT(settings) as auth:
        (found,) = [s for s in await auth.list_sessions(user_id) if s.id == session_id]
        return found.last_seen_at


@contextlib.contextmanager
def serving(
    env: dict[str, str], log_path: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    command = [sys.executable, "-m", "sessionjwt.server.cli", "serve", "--port", str(port), *args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(process, base, log_path)
            yield process, base
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_healthy(process: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/healthz", timeout=1.0).json() == {"status": "ok"}:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"serve did not answer /healthz:\n{log_path.read_text()}")
        time.sleep(0.05)


def worker_pids(parent: int) -> set[int]:
    """The supervisor's children that are uvicorn workers (spawned interpreters)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def wait_for_log(log_path: Path, text: str, count: int, timeout: float = STOP_WITHIN_S) -> None:
    deadline = time.monotonic() + timeout
    while log_path.read_text(errors="replace").count(text) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{count}x {text!r} not logged:\n{log_path.read_text()}")
        time.sleep(0.02)


def half_sent_login(port: int) -> tuple[socket.socket, bytes]:
    """A login request with the headers and half of the body sent; (socket, the rest)."""
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    head = (
        f"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    half = len(body) // 2
    connection.sendall(head + body[:half])
    return connection, body[half:]


def read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_workers_stop_gracefully_and_flush_last_seen(tmp_path: Path, workers: int) -> None:
    settings = settings_for(tmp_path)
    user_id, session_id, token = asyncio.run(backdated_session(settings))
    before = asyncio.run(last_seen(settings, user_id, session_id))
    assert before < time.time() - BACKDATED_S / 2

    access_log = workers == 2  # one run with the access log on, one with the default (off)
    flags = ["--workers", str(workers), *(["--access-log"] if access_log else [])]
    log_path = tmp_path / "serve.log"
    with serving(server_env(tmp_path), log_path, *flags) as (process, base):
        wait_for_log(log_path, "Application startup complete.", workers, START_TIMEOUT_S)
        if workers > 1:
            pids = worker_pids(process.pid)
            assert len(pids) == workers, (pids, log_path.read_text())
            started = re.findall(r"Started server process \[(\d+)\]", log_path.read_text())
            assert {int(pid) for pid in started} == pids

        me = httpx.get(
            f"{base}/auth/me?token={SECRET_QUERY}",
            headers={"Authorization": f"Bearer {token}", "Cookie": f"sid={COOKIE_VALUE}"},
        )
        assert me.status_code == 200, me.text
        assert me.json()["session_id"] == session_id

        port = int(base.rsplit(":", 1)[1])
        connection, rest = half_sent_login(port)
        with connection:
            time.sleep(0.2)  # the worker has read the headers: the request is in flight
            process.send_signal(signal.SIGTERM)
            wait_for_log(log_path, "Shutting down", workers)
            sent_rest = time.monotonic()
            connection.sendall(rest)
            answer = read_all(connection)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert b'"access_token"' in answer
        returncode = process.wait(timeout=STOP_WITHIN_S)
        stopped_in = time.monotonic() - sent_rest

    log = log_path.read_text(errors="replace")
    assert returncode == 0, log
    assert stopped_in < STOP_WITHIN_S
    assert log.count("Application shutdown complete.") == workers, log
    for trouble in ("Traceback", "ERROR", "shutdown failed"):
        assert trouble not in log, log
    assert '"event": "login_ok"' in log  # the audit lines are set up in every worker
    after = asyncio.run(last_seen(settings, user_id, session_id))
    assert after > before + BACKDATED_S / 2, (before, after)

    access_lines = [json.loads(line) for line in log.splitlines() if '"duration_ms"' in line]
    assert ' HTTP/1.1" ' not in log  # uvicorn's own access log (with the query) stays off
    for secret in (token, SECRET_QUERY, COOKIE_VALUE, "token="):
        assert secret not in log
    if access_log:
        paths = [(line["method"], line["path"], line["status"]) for line in access_lines]
        assert ("GET", "/auth/me", 200) in paths
        assert ("POST", "/auth/login", 200) in paths
    else:
        assert access_lines == []
