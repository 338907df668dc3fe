"""One structured JSON line per HTTP request, on the ``sessionjwt.access`` logger.

Off by default (``SESSIONJWT_ACCESS_LOG`` / ``sessionjwt serve --access-log``): when off, the
middleware is not installed at all, so it costs nothing. uvicorn's own access log is always
off under ``sessionjwt serve``, because its line carries the query string.

What a line holds, and what it never holds. A line is::

    {"ts": "2030-01-01T00:00:00.000Z", "method": "GET", "path": "/auth/me", "status": 200,
     "duration_ms": 0.41, "ip": "203.0.113.9", "bytes_in": 0}

``path`` is the ASGI ``scope["path"]``, which never includes the query string (a
``?token=…`` stays out); ``ip`` is the client address as the service resolves it everywhere
else (the peer, or ``X-Forwarded-For`` only from ``trusted_proxies``); ``bytes_in`` is the
request's ``Content-Length`` as declared (0 if none). No other header is read or written: no
``Authorization``, no cookie, no user agent, no query string, no body, no token.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import IO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionjwt.client import client_ip
from sessionjwt.settings import IPNetwork

ACCESS_LOGGER = "sessionjwt.access"
MAX_PATH = 512  # a longer path is cut: a log line stays bounded whatever a client sends

logger = logging.getLogger(ACCESS_LOGGER)


class AccessLogMiddleware:
    """Pure ASGI middleware: time each HTTP request and log its line when the answer is sent.

    It wraps ``send`` only (to see the status); ``receive`` and the body are left alone. A
    request that fails before any answer is logged with status 500, as the server answers it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: Sequence[IPNetwork] = (),
        log: logging.Logger = logger,
    ) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.log.info(self.line(scope, status, time.perf_counter() - started))

    def line(self, scope: Scope, status: int, seconds: float) -> str:
        peer = scope.get("client")
        ip = peer[0] if peer else None
        forwarded: str | None = None
        length = 0
        for name, value in scope["headers"]:
            # Only these two headers are looked at, and neither is ever written as is.
            if name == b"content-length":
                length = int(value) if value.isdigit() else 0
            elif name == b"x-forwarded-for" and self.trusted_proxies:
                forwarded = value.decode("latin-1")
        if forwarded is not None:
            ip = client_ip(ip, forwarded, self.trusted_proxies)
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        return json.dumps(
            {
                "ts": f"{stamp}.{int(now % 1 * 1000):03d}Z",
                "method": scope["method"],
                "path": scope["path"][:MAX_PATH],
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "ip": ip,
                "bytes_in": length,
            },
            ensure_ascii=True,
        )


def configure_json_lines(name: str, stream: IO[str] | None = None) -> None:
    """Logger ``name`` writes each message as is, one per line, to stderr (or ``stream``),
    for a log shipper; done once per process and name. This is what ``sessionjwt serve``
    does for ``sessionjwt.audit`` and ``sessionjwt.access``; library users get the loggers
    unconfigured and decide where they go."""
    if name in _configured:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    target = logging.getLogger(name)
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    target.propagate = False  # one line per event, not again through the root logger
    _configured.add(name)


_configured: set[str] = set()
