"""The HTTP server's own bound on a request head, under ``sessionjwt serve``.

uvicorn's httptools parser buffers a request line or header of any length until it is
complete, and only then does the app (``web/limits.py``) see it: a 100 MB header would be held
in memory first. :class:`BoundedHttpToolsProtocol` counts the bytes of each request head as
they arrive and, once they pass the limit, answers 431 ``request_headers_too_large`` in the
usual envelope and closes the connection without reading further.

The limit rides in uvicorn's ``h11_max_incomplete_event_size`` (h11's bound on the same
thing), so that the one value ``serve`` computes reaches every worker process with the config.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from sessionjwt.errors import RequestHeadersTooLarge
from sessionjwt.settings import Settings
from sessionjwt.support.refusal import refusal_parts

__all__ = ["PROTOCOL", "BoundedHttpToolsProtocol", "head_limit"]

PROTOCOL = "sessionjwt.server.http_limits:BoundedHttpToolsProtocol"
#: Beyond the headers the app counts (names and values): the request line, separators.
HEAD_ALLOWANCE = 16 * 1024


def head_limit(settings: Settings) -> int:
    """Bytes of a request head the server reads before it refuses: above what the app allows,
    so that every head the app would accept gets to the app."""
    return settings.max_header_bytes + HEAD_ALLOWANCE


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a bound on each request head (``config.h11_max_incomplete_event_size``)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_limit = config.h11_max_incomplete_event_size or HEAD_ALLOWANCE
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after all of ``data``: every byte counted was head.
        if self._in_head and self._head_bytes > self._head_limit:
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # a kept-alive connection's next request starts here
        self._head_bytes = 0

    def _refuse_head(self) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            status, headers, body = refusal_parts(RequestHeadersTooLarge())
            lines = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                lines.extend([name, b": ", value, b"\r\n"])
            for name_text, value_text in {
                **headers,
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                "Connection": "close",
            }.items():
                lines.append(f"{name_text}: {value_text}\r\n".encode("latin-1"))
            lines.extend([b"\r\n", body])
            self.transport.write(b"".join(lines))
        # else a response is still being written: cutting the connection is all we can do
        self.transport.close()
