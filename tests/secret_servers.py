"""Local stand-ins for secret managers, started by the tests themselves.

- AWS: moto's standalone server, a real HTTP endpoint speaking the SSM and Secrets Manager
  APIs, in a subprocess on a free 127.0.0.1 port. boto3 talks to it exactly as to AWS.
- Vault: there is no Vault server here. :class:`FakeKvV2` is a tiny HTTP server answering the
  one call our source makes (``GET /v1/<mount>/data/<path>[?version=N]``) with the KV v2 read
  response shape documented by HashiCorp. It tests our use of hvac and our parsing of the
  answer; it does not test Vault (policies, auth methods, TLS, namespaces, real versioning).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sessionjwt import SessionJWT, TokenPair
from tests.conftest import PASSWORD


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    """``python -m moto.server`` on a free port; yields its endpoint URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class FakeKvV2:
    """Secrets as ``{(mount, path): [version 1 data, version 2 data, ...]}``; one token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.secrets: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                status, body = fake.answer(self.path, self.headers.get("X-Vault-Token"))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def put(self, mount: str, path: str, data: dict[str, Any]) -> int:
        versions = self.secrets.setdefault((mount, path), [])
        versions.append(data)
        return len(versions)

    def answer(self, raw_path: str, token: str | None) -> tuple[int, dict[str, Any]]:
        if token != self.token:
            return 403, {"errors": ["permission denied"]}
        parts = urlsplit(raw_path)
        segments = parts.path.split("/")
        # /v1/<mount>/data/<path...>
        if len(segments) < 5 or segments[1] != "v1" or segments[3] != "data":
            return 404, {"errors": []}
        key = (segments[2], "/".join(segments[4:]))
        versions = self.secrets.get(key)
        requested = parse_qs(parts.query).get("version", ["0"])[0]
        number = int(requested) or len(versions or [])
        if not versions or not 1 <= number <= len(versions):
            return 404, {"errors": []}
        return 200, {
            "request_id": "00000000-0000-0000-0000-000000000000",
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": {
                "data": versions[number - 1],
                "metadata": {
                    "created_time": "2026-11-25T10:00:00.000000Z",
                    "custom_metadata": None,
                    "deletion_time": "",
                    "destroyed": False,
                    "version": number,
                },
            },
            "wrap_info": None,
            "warnings": None,
            "auth": None,
        }

    @contextmanager
    def running(self) -> Iterator[FakeKvV2]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()


async def login_and_check(auth: SessionJWT, email: str = "alice@example.com") -> TokenPair:
    """Register (if new), log in and check the access token: the whole flow on these keys."""
    if await auth.users.find_by_email(email) is None:
        await auth.register(email, PASSWORD)
    pair = await auth.login(email, PASSWORD)
    assert (await auth.check(pair.access_token)).email == email
    return pair
