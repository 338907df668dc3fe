"""A stand-in issuer on 127.0.0.1 for the SDK tests: a JWKS and an RFC 7662 endpoint that
count their requests and can be told to fail, plus an "attacker" server that only counts.

It signs with sessionjwt's own key ring and codec, so its tokens are the real thing; its
introspection answers follow the contract of the issuer's ``/oauth/introspect`` (form
``token``, Basic client authentication, ``active`` plus the claims when live).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from sessionjwt.errors import SessionJWTError
from sessionjwt.keys.ring import KeyRing, SigningKey, build_key, generate_private_bytes, new_kid
from sessionjwt.tokens.access import AccessTokenCodec, AccessTokenPolicy

ISSUER = "https://auth.rs.test"
AUDIENCE = "https://orders.rs.test"
CLIENT_ID = "orders-service"
CLIENT_SECRET = "s3cret+with/odd=chars"


def make_key(alg: str = "EdDSA", state: str = "active") -> SigningKey:
    return build_key(new_kid(), alg, state, generate_private_bytes(alg))  # type: ignore[arg-type]


class FakeIssuer:
    def __init__(self) -> None:
        self.ring = KeyRing([make_key()])
        self.codec = AccessTokenCodec(
            AccessTokenPolicy(ISSUER, AUDIENCE, "sessionjwt", 300, 10.0, 8192), lambda: self.ring
        )
        self.jwks_requests = 0
        self.introspect_requests = 0
        self.revoked: set[str] = set()
        self.introspect_status = 200  # anything else: answered with that status
        self.introspect_body: Any = None  # overrides the JSON answer when set
        self.jwks_max_age = 3600
        self.roles: tuple[str, ...] = ("reader",)
        self.scope: str | None = None  # the answer's "scope", when set
        self.credential = "session"  # the answer's "credential": "session" or "client"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, user_id: str = "user-1", session_id: str = "sid-1") -> str:
        token, _ = self.codec.issue(
            user_id=user_id, session_id=session_id, roles=self.roles, now=time.time()
        )
        return token

    def rotate(self, alg: str = "EdDSA") -> None:
        """A new active key, published at once; the old one keeps verifying."""
        old = [
            SigningKey(k.kid, k.alg, "retiring", k.signing_key, k.verifying_key, k.jws)
            for k in self.ring
        ]
        self.ring = KeyRing([*old, make_key(alg)])

    def _introspect(self, form: dict[str, list[str]], authorization: str | None) -> Any:
        expected = base64.b64encode(
            f"{CLIENT_ID}:{CLIENT_SECRET}".replace("+", "%2B")
            .replace("/", "%2F")
            .replace("=", "%3D")
            .encode()
        ).decode()
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        if self.introspect_status != 200:
            return self.introspect_status, {"error": "server_error"}
        if self.introspect_body is not None:
            return 200, self.introspect_body
        try:
            claims = self.codec.verify(form.get("token", [""])[0], time.time())
        except SessionJWTError:
            return 200, {"active": False}
        if claims.sid in self.revoked:
            return 200, {"active": False}
        return 200, {
            **({"scope": self.scope} if self.scope is not None else {}),
            "credential": self.credential,
            "active": True,
            "sub": claims.sub,
            "sid": claims.sid,
            "exp": claims.exp,
            "iat": claims.iat,
            "client_id": claims.client_id,
            "username": f"{claims.sub}@example.com",
            "roles": list(self.roles),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "token_type": "Bearer",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: Any, headers: dict[str, str]) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path == "/.well-known/jwks.json":
                    issuer.jwks_requests += 1
                    cache = f"public, max-age={issuer.jwks_max_age}"
                    self._reply(200, issuer.ring.public_jwks(), {"Cache-Control": cache})
                else:
                    self._reply(404, {}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                if self.path != "/oauth/introspect":
                    self._reply(404, {}, {})
                    return
                issuer.introspect_requests += 1
                status, body = issuer._introspect(form, self.headers.get("Authorization"))
                if isinstance(body, str):
                    body = body.encode()
                self._reply(status, body, {"Content-Type": "application/json"})

        return Handler

    @contextmanager
    def running(self) -> Iterator[FakeIssuer]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


class CountingServer:
    """Answers anything with 404 and counts: the attacker's ``jku``/``x5u`` host."""

    def __init__(self) -> None:
        self.requests = 0
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                counter.requests += 1
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[CountingServer]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)
