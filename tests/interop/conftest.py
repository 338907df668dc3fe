"""A real ``sessionjwt serve`` per signing algorithm, and Node's ``jose`` installed on demand.

Each server is a separate process on SQLite in its own data directory (``SESSIONJWT_*`` only,
see :mod:`tests.cluster.harness`), started once per run: the tests fetch its JWKS over real
HTTP, exactly as another service would. ``node_verifier`` runs ``npm ci`` into
``tests/interop/node`` when ``node_modules`` is missing (the lock file pins ``jose``). Without
``node``/``npm`` the Node tests are skipped, loudly; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import backends
from tests.cluster.harness import Cluster, Instance, free_port, login, register, unique_email
from tests.conftest import SKIPPED_BACKENDS

ISSUER = "https://auth.interop.test"
AUDIENCE = "https://api.interop.test"
NODE_DIR = Path(__file__).parent / "node"
ALGORITHMS = ["EdDSA", "ES256"]


@dataclass(frozen=True, slots=True)
class ServedIssuer:
    algorithm: str
    base_url: str
    access_token: str
    client_token: str  # a service client's, from the client-credentials grant
    client_id: str

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/.well-known/jwks.json"


def _env(data_dir: Path, algorithm: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SESSIONJWT_")}
    env.update(
        {
            "SESSIONJWT_DATA_DIR": str(data_dir),
            "SESSIONJWT_ISSUER": ISSUER,
            "SESSIONJWT_AUDIENCE": AUDIENCE,
            "SESSIONJWT_SIGNING_ALGORITHM": algorithm,
            "SESSIONJWT_ARGON2_TIME_COST": "1",
            "SESSIONJWT_ARGON2_MEMORY_COST_KIB": "1024",
            "SESSIONJWT_ARGON2_PARALLELISM": "1",
        }
    )
    return env


@pytest.fixture(scope="session", params=ALGORITHMS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedIssuer]:
    """A served issuer signing with ``request.param``, and a live access token from it."""
    algorithm: str = request.param
    data_dir = tmp_path_factory.mktemp(f"interop-{algorithm}")
    env = _env(data_dir, algorithm)
    instance = Instance(algorithm, free_port(), env, data_dir / "serve.log")
    cluster = Cluster(env, [instance])
    try:
        cluster.wait_ready()
        email = unique_email("interop")
        register(cluster.clients[0], email)
        token = login(cluster.clients[0], email)["access_token"]
        client_id, client_token = _service_client_token(cluster)
        yield ServedIssuer(algorithm, instance.base_url, token, client_token, client_id)
    finally:
        cluster.close()


def _service_client_token(cluster: Cluster) -> tuple[str, str]:
    """A client registered with ``sessionjwt clients create --client-credentials`` and the
    access token it obtains at ``/oauth/token``."""
    made = cluster.cli(
        "clients", "create", "interop-worker", "--client-credentials", "--scope", "orders:read"
    )
    assert made.returncode == 0, made.stderr
    fields = dict(line.split(": ", 1) for line in made.stdout.splitlines() if ": " in line)
    response = cluster.clients[0].post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(fields["client_id"], fields["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return fields["client_id"], response.json()["access_token"]


# -- Node -----------------------------------------------------------------------------------


def _node_unavailable(reason: str) -> None:
    if backends.IN_CI:
        pytest.fail(f"CI=true but {reason}: the Node interop test must run in CI", pytrace=False)
    SKIPPED_BACKENDS.append(f"Node interop: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node_verifier() -> Any:
    """A function running ``verify.mjs`` with Node's ``jose``; installs it with ``npm ci``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _node_unavailable("node/npm are not on PATH")
    assert node is not None and npm is not None
    if not (NODE_DIR / "node_modules" / "jose").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--ignore-scripts"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if installed.returncode != 0:
            _node_unavailable(f"npm ci failed: {installed.stderr[-500:]}")

    def verify(
        served: ServedIssuer, tokens: dict[str, str], *, issuer: str = ISSUER
    ) -> dict[str, Any]:
        request = {
            "jwks_url": served.jwks_url,
            "issuer": issuer,
            "audience": AUDIENCE,
            "algorithms": [served.algorithm],
            "tokens": tokens,
        }
        ran = subprocess.run(
            [node, str(NODE_DIR / "verify.mjs")],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=NODE_DIR,
        )
        assert ran.returncode == 0, ran.stderr
        results: dict[str, Any] = json.loads(ran.stdout)
        return results

    return verify


def jwks_document(served: ServedIssuer) -> dict[str, Any]:
    response = httpx.get(served.jwks_url, timeout=5, trust_env=False)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body
