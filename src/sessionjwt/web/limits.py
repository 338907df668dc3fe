"""Request size limits, an ASGI middleware in front of everything else.

A request whose headers are too many or too large is refused 431 before the guard parses a
token out of them; a body over its route's limit is refused 413 before any parser sees it:
at once when ``Content-Length`` says so, else as soon as the chunks read so far pass it (the
rest is never read, and the connection is closed). Within the limit the body is handed on
unchanged. Both refusals are the usual envelope (``sessionjwt.errors``).

These bounds hold wherever the app is served; the HTTP server's own bound on a request head
(``server/http_limits.py`` under ``sessionjwt serve``) is the backstop for a head too large to
be worth buffering at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionjwt.errors import RequestHeadersTooLarge, RequestTooLarge
from sessionjwt.web.refusals import error_response, refuse

__all__ = ["RequestLimitsMiddleware", "describe_limits"]

#: HTTP versions whose framing announces a body (``Content-Length`` or ``Transfer-Encoding``):
#: a request with neither has none, and is not waited on.
_FRAMED_BY_HEADERS = frozenset({"1.0", "1.1"})


class RequestLimitsMiddleware:
    """431 for too many or too large headers; 413 for a body over its path's limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        max_header_count: int,
        max_body_bytes: int,
        max_body_bytes_by_path: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self._max_header_bytes = max_header_bytes
        self._max_header_count = max_header_count
        self._max_body_bytes = max_body_bytes
        # Longest prefix first, so the first match is the most specific one.
        self._by_path = sorted(
            (max_body_bytes_by_path or {}).items(), key=lambda item: len(item[0]), reverse=True
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        size, length, chunked = _inspect(headers)
        if len(headers) > self._max_header_count or size > self._max_header_bytes:
            await refuse(RequestHeadersTooLarge(), scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if length is None and not chunked and scope.get("http_version") in _FRAMED_BY_HEADERS:
            await self.app(scope, receive, send)  # no body: nothing to count
            return
        limit = self.body_limit(scope["path"])
        if length is not None and length > limit:
            await _too_large(scope, receive, send)
            return
        try:
            body = await _read_within(receive, limit)
        except RequestTooLarge:
            await _too_large(scope, receive, send)
            return
        if body is not None:  # else the client went away while sending
            await self.app(scope, _replay(body, receive), send)

    def body_limit(self, path: str) -> int:
        for prefix, limit in self._by_path:
            if path.startswith(prefix):
                return limit
        return self._max_body_bytes


def _inspect(headers: Any) -> tuple[int, int | None, bool]:
    """``(bytes of names and values, Content-Length, chunked)`` in one pass (every request
    comes through here). An unreadable length counts as none: the HTTP server has refused it
    already, or the chunks are counted."""
    size = 0
    length: int | None = None
    chunked = False
    for name, value in headers:
        size += len(name) + len(value)
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return size, length, chunked


async def _read_within(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None if the client left first; :class:`RequestTooLarge` as soon as
    the chunks read pass ``limit`` (nothing more is read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body read already, then the server's own messages (a
    disconnect) as usual."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    """413, closing the connection: the rest of the body is not worth reading."""
    response = error_response(RequestTooLarge())
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


def describe_limits(openapi: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the two refusals on every operation they can answer: 431 on
    all, 413 on those that take a body. Changes ``openapi`` in place and returns it."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "requestBody" in operation:
                responses.setdefault(
                    "413",
                    {"description": "`request_too_large`: body over limit.", "content": error},
                )
            responses.setdefault(
                "431",
                {
                    "description": "`request_headers_too_large`: too many or too large headers.",
                    "content": error,
                },
            )
    return openapi
