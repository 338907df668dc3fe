"""Processes for the browser tests: the real service, the CLI beside it, a hostile web site.

The service is ``sessionjwt serve`` from the virtualenv, on a free 127.0.0.1 port, configured
only through ``SESSIONJWT_*`` variables (the caller's own are dropped, so nothing leaks in),
with its output in a log file that a failing test prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

import httpx
from playwright.sync_api import Page

from tests.cluster.harness import stop_process, unique_email
from tests.mail import free_port

START_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0
SESSIONJWT = Path(sys.executable).parent / "sessionjwt"
SMTP_FROM = "accounts@example.test"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "e2e"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"

__all__ = [
    "HostileSite",
    "Service",
    "chromium_path",
    "hostile_site",
    "save_screenshot",
    "unique_email",
]


def chromium_path() -> str | None:
    """Debian's chromium (apt package ``chromium``); the tests never download a browser."""
    return shutil.which("chromium")


def service_env(data_dir: Path, port: int, smtp_port: int, **overrides: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SESSIONJWT_")}
    env.update(
        {
            "SESSIONJWT_DATA_DIR": str(data_dir),
            "SESSIONJWT_ISSUER": f"http://127.0.0.1:{port}",
            "SESSIONJWT_SMTP_HOST": "127.0.0.1",
            "SESSIONJWT_SMTP_PORT": str(smtp_port),
            "SESSIONJWT_SMTP_SECURITY": "none",
            "SESSIONJWT_SMTP_FROM": SMTP_FROM,
            # Cheap hashing and limits out of the way: neither is what these tests are about.
            "SESSIONJWT_ARGON2_TIME_COST": "1",
            "SESSIONJWT_ARGON2_MEMORY_COST_KIB": "1024",
            "SESSIONJWT_ARGON2_PARALLELISM": "1",
            "SESSIONJWT_LOGIN_RATE_LIMIT_IP": "10000/minute",
            "SESSIONJWT_LOGIN_FAILURES_PER_ACCOUNT": "10000/minute",
            "SESSIONJWT_REFRESH_RATE_LIMIT_IP": "10000/minute",
            "SESSIONJWT_REGISTER_RATE_LIMIT_IP": "10000/minute",
            "SESSIONJWT_PASSWORD_RESET_RATE_LIMIT_IP": "10000/minute",
            "SESSIONJWT_PASSWORD_RESET_RATE_LIMIT_EMAIL": "10000/minute",
            "COLUMNS": "250",  # rich: keep CLI output on one line
        }
    )
    env.update({f"SESSIONJWT_{name.upper()}": value for name, value in overrides.items()})
    return env


def save_screenshot(page: Page, name: str) -> Path:
    """Write ``artifacts/e2e/NAME`` (ignored by git); with ``SESSIONJWT_UPDATE_SCREENSHOTS=1``
    also ``docs/screenshots/NAME``, the copy the README shows (so a normal run never dirties the
    tree)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    page.screenshot(path=str(target), full_page=True)
    if os.environ.get("SESSIONJWT_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS_SCREENSHOTS / name)
    return target


class Service:
    """One running ``sessionjwt serve`` and the CLI with the same settings."""

    def __init__(self, data_dir: Path, smtp_port: int, **overrides: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = service_env(data_dir, self.port, smtp_port, **overrides)
        self.log_path = data_dir / "serve.log"
        self._log: IO[bytes] = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(SESSIONJWT), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"sessionjwt serve exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                if httpx.get(self.url("/healthz"), timeout=1.0, trust_env=False).is_success:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"/healthz did not answer within {START_TIMEOUT_S} s:\n{self.log_text()}"
                )
            time.sleep(0.1)

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``sessionjwt ARGS`` against this service's data directory; must succeed."""
        result = subprocess.run(
            [str(SESSIONJWT), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            input=stdin,
        )
        assert result.returncode == 0, f"sessionjwt {args[:2]}: {result.stdout}{result.stderr}"
        return result

    def create_user(self, email: str, password: str, *roles: str) -> None:
        role_args = [arg for role in roles for arg in ("--role", role)]
        self.cli("users", "create", email, "--password-stdin", *role_args, stdin=password + "\n")

    def stop(self) -> None:
        try:
            stop_process(self.process)
        finally:
            self._log.close()


@contextmanager
def running_service(data_dir: Path, smtp_port: int, **overrides: str) -> Iterator[Service]:
    service = Service(data_dir, smtp_port, **overrides)
    try:
        service.wait_healthy()
        yield service
    finally:
        service.stop()


# -- the attacker's web site -----------------------------------------------------------------


class HostileSite:
    """Another origin on this machine, serving whatever page a test puts at a path."""

    def __init__(self, server: ThreadingHTTPServer, pages: dict[str, str]) -> None:
        self._server = server
        self.pages = pages

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, host: str, path: str) -> str:
        """``host`` picks the relation: ``127.0.0.1`` is same-site (cookies ignore ports),
        ``localhost`` is another site altogether."""
        return f"http://{host}:{self.port}{path}"

    def auto_submit(self, path: str, action: str, fields: Mapping[str, str] | None = None) -> None:
        """A page that posts a form to ``action`` as soon as it loads, as a forgery would."""
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{value}">'
            for name, value in (fields or {}).items()
        )
        self.pages[path] = (
            "<!doctype html><html><body>"
            f'<form method="post" action="{action}">{inputs}<button>Win a prize</button></form>'
            "<script>document.forms[0].submit()</script>"
            "</body></html>"
        )


@contextmanager
def hostile_site() -> Iterator[HostileSite]:
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?", 1)[0])
            payload = (body or "not found").encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hostile-site", daemon=True)
    thread.start()
    try:
        yield HostileSite(server, pages)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
