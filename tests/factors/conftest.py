"""An authenticator app that is not ours: Node's ``otplib`` makes every TOTP code the tests
type, from the ``otpauth://`` URI the service hands out (as a phone reads the QR code).

A bug shared by the server's pyotp and the tests cannot pass this way. ``npm ci`` installs
it into ``tests/factors/node`` when ``node_modules`` is missing (the lock file pins it).
Without ``node``/``npm`` these tests are skipped, loudly; with ``CI=true`` they fail.
Tests elsewhere take it with ``from tests.factors.conftest import authenticator``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import backends
from tests.conftest import SKIPPED_BACKENDS

NODE_DIR = Path(__file__).parent / "node"


@dataclass(frozen=True, slots=True)
class AuthenticatorApp:
    node: str

    def codes(self, otpauth_uri: str, moments: Sequence[float]) -> list[str]:
        """The codes the app shows at each moment (epoch seconds)."""
        ran = subprocess.run(
            [self.node, str(NODE_DIR / "totp.mjs")],
            input=json.dumps({"uri": otpauth_uri, "epochs": [int(m) for m in moments]}),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=NODE_DIR,
        )
        assert ran.returncode == 0, ran.stderr
        codes: list[str] = json.loads(ran.stdout)
        return codes

    def code(self, otpauth_uri: str, at: float) -> str:
        return self.codes(otpauth_uri, [at])[0]


def _unavailable(reason: str) -> None:
    if backends.IN_CI:
        pytest.fail(f"CI=true but {reason}: the TOTP tests must run in CI", pytrace=False)
    SKIPPED_BACKENDS.append(f"TOTP (Node otplib): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def authenticator() -> AuthenticatorApp:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node/npm are not on PATH")
    assert node is not None and npm is not None
    if not (NODE_DIR / "node_modules" / "otplib").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--ignore-scripts"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if installed.returncode != 0:
            _unavailable(f"npm ci failed: {installed.stderr[-500:]}")
    app = AuthenticatorApp(node)
    # RFC 6238 appendix B (SHA-1, the 20-byte ASCII key "12345678901234567890", six digits):
    # the generator is right before any test believes it.
    rfc_key = "otpauth://totp/rfc6238?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert app.codes(rfc_key, [59, 1111111109, 2000000000]) == ["287082", "081804", "279037"]
    return app
