"""A real, certified OpenID Provider on 127.0.0.1 for the identity-provider sign-in tests.

``local_op`` (session scope) runs panva's ``oidc-provider`` (pinned in ``node/package.json``)
through ``node/op.mjs`` and yields a :class:`tests.providers.op.LocalOP`: ``issuer``, ``port``,
``clients``, ``accounts``, ``stop()``, ``configure_client()``, ``reset()``. ``fresh_op``
(function scope) is the same OP reset before and after the test: the configured clients again,
no session, grant or token left from another test. Use ``fresh_op`` unless a test means to
share the OP's state.

Installing: ``npm ci --prefix tests/providers/node --no-audit --no-fund --ignore-scripts`` when
``node_modules`` lacks the pinned version, under a file lock (xdist workers, and other runs on
the same tree, would otherwise install into one directory at once). Without ``node``/``npm``, or
when ``npm ci`` fails, the tests are skipped and the summary says so loudly; with ``CI=true``
they fail instead.

Redirect URIs: the OP matches them exactly, as a real one must, so nothing is bent to accept
"any port". The default clients carry a placeholder redirect URI that is never contacted (the
helpers stop at the OP's redirect); a test that runs an RP registers its real callback, any
host and port, with ``await fresh_op.configure_client(RP_CLIENT_ID, redirect_uris=[...],
backchannel_logout_uri=...)``. The OP keeps its clients in its storage adapter, so the change is
validated by its own client schema and used from the next request: no restart.

pytest-xdist: a session fixture runs once per worker, so each worker that meets an OP test
starts its own OP; ``op.mjs`` listens on port 0 and reports the port the kernel chose, so the
workers never race for one. The tests are not gathered into one ``xdist_group``: a start costs
well under a second (the RSA key is most of it), less than what running every OP test on one
worker would cost once the RP's browser tests join them. A module's tests stay on one worker
anyway (``tests/conftest.py`` groups by module under ``--dist loadgroup``).

To start the OP with other clients or accounts, override the ``local_op_config`` fixture.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import backends
from tests.conftest import SKIPPED_BACKENDS
from tests.providers.op import NODE_DIR, LocalOP, OPConfig

PACKAGE = "oidc-provider"


def _unavailable(reason: str) -> None:
    if backends.IN_CI:
        pytest.fail(
            f"CI=true but {reason}: the OpenID Provider tests must run in CI", pytrace=False
        )
    SKIPPED_BACKENDS.append(f"local OpenID Provider: {reason}")
    pytest.skip(reason)


def _pinned_version() -> str:
    version: str = json.loads((NODE_DIR / "package.json").read_text())["dependencies"][PACKAGE]
    return version


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def _npm_ci(npm: str) -> None:
    """``npm ci`` once, unless the pinned version is already installed; one process at a time."""
    lock_name = hashlib.sha256(str(NODE_DIR.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"sessionjwt-op-npm-{lock_name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() == _pinned_version():
            return
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--ignore-scripts"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            _unavailable(f"npm ci failed: {installed.stderr[-500:]}")


@pytest.fixture(scope="session")
def local_op_config() -> OPConfig:
    """The clients and accounts the OP starts with (override to change them)."""
    return OPConfig()


@pytest.fixture(scope="session")
def local_op(
    local_op_config: OPConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalOP]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node/npm are not on PATH")
    assert node is not None and npm is not None
    _npm_ci(npm)
    op = LocalOP.start(node, local_op_config, tmp_path_factory.mktemp("local-op"))
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def fresh_op(local_op: LocalOP) -> Iterator[LocalOP]:
    """``local_op`` with its configured clients and no state, before and after the test."""
    local_op.reset()
    try:
        yield local_op
    finally:
        local_op.reset()
