"""The sync resource server under a real pre-forking server: gunicorn, two sync workers,
with and without ``--preload`` (the app imported before the fork), serving the Flask and the
Django example. A logout at the issuer is
refused by the very next request in *both* workers: each has its own feed listener."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster.harness import free_port, stop_process
from tests.conftest import bearer
from tests.resource_server.frameworks.conftest import LiveIssuer, signed_in
from tests.test_resource_server_live import AUDIENCE, ISSUER

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[3]
GUNICORN = Path(sys.executable).parent / "gunicorn"
APPS = {
    "flask": "tests.resource_server.frameworks.gunicorn_app:app",
    "django": "tests.resource_server.frameworks.gunicorn_django_app:app",
}


@pytest.fixture(
    params=[
        (face, loading)
        for face in ("flask", "django")
        for loading in ("fork-then-import", "--preload")
    ],
    ids=lambda param: "-".join(param),
)
def workers(
    live: LiveIssuer, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[httpx.Client]:
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("RS_")}
    env.update(
        {
            "RS_ISSUER": ISSUER,
            "RS_AUDIENCE": AUDIENCE,
            "RS_CLIENT_ID": live.client_id,
            "RS_CLIENT_SECRET": live.client_secret,
            "RS_JWKS_URL": live.base_url + "/.well-known/jwks.json",
            "RS_INTROSPECTION_URL": live.base_url + "/oauth/introspect",
            "RS_REDIS_URL": live.redis_url,
            "RS_REDIS_NAMESPACE": live.namespace,
            "RS_FEED_STALE_AFTER": "1.0",
        }
    )
    face, loading = request.param
    preload = ["--preload"] if loading == "--preload" else []
    app = APPS[face]
    command = [str(GUNICORN), "--workers", "2", "--bind", f"127.0.0.1:{port}", *preload, app]
    with (tmp_path / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        stop_process(process)


def test_a_logout_is_refused_by_the_next_request_in_both_workers(
    live: LiveIssuer, workers: httpx.Client
) -> None:
    tokens = signed_in(live)
    headers = bearer(tokens["access_token"])
    accepted_by: set[str] = set()
    deadline = time.monotonic() + 20
    for _ in range(200):  # sync workers take turns at accept(): both answer soon
        response = workers.get("/orders", headers=headers)
        if response.status_code == 503 and time.monotonic() < deadline:
            # A worker's first check starts its loop, keys and feed; on a loaded machine
            # that can outlast the check's bound, and the answer is then 503, never 200.
            assert response.json()["error"] == "store_unavailable"
            continue
        assert response.status_code == 200, response.text
        accepted_by.add(response.headers["X-Worker"])
        if len(accepted_by) == 2:
            break
    assert len(accepted_by) == 2, "one worker answered every request"

    assert live.http.post("/auth/logout", headers=headers).status_code == 204
    refused_by: set[str] = set()
    for _ in range(200):  # from the very first request on: no grace, in either worker
        response = workers.get("/orders", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "session_revoked"
        refused_by.add(response.headers["X-Worker"])
        if refused_by == accepted_by:
            break
    assert refused_by == accepted_by
