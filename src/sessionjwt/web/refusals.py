"""A refusal, rendered once for every face: ``{"error": code, "message": text}`` with the
status and the headers the RFCs ask for (``WWW-Authenticate``, ``Retry-After``)."""

from __future__ import annotations

import json
import re

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sessionjwt.errors import (
    AuthenticationError,
    InsufficientRole,
    InsufficientScope,
    MissingToken,
    RateLimited,
    SessionJWTError,
)

_UNSAFE_IN_QUOTED = re.compile(r'["\\\x00-\x1f\x7f]')


def error_response(error: SessionJWTError) -> Response:
    """``{"error": code, "message": text}`` with the status and headers the RFCs ask for."""
    headers: dict[str, str] = {}
    if isinstance(error, MissingToken):
        headers["WWW-Authenticate"] = 'Bearer realm="sessionjwt"'
    elif isinstance(error, AuthenticationError):
        description = _UNSAFE_IN_QUOTED.sub("", error.message)
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{description}"'
        )
    elif isinstance(error, InsufficientScope):
        scope = _UNSAFE_IN_QUOTED.sub("", " ".join(error.scopes))
        headers["WWW-Authenticate"] = (
            f'Bearer error="insufficient_scope", scope="{scope}"'
            if scope
            else 'Bearer error="insufficient_scope"'
        )
    elif isinstance(error, InsufficientRole):
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    elif isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 503:
        headers["Retry-After"] = "1"
    body = json.dumps({"error": error.code, "message": error.message}).encode()
    headers["Cache-Control"] = "no-store"
    return Response(body, status_code=error.status, headers=headers, media_type="application/json")


async def refuse(error: SessionJWTError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a refused HTTP request with :func:`error_response`; close a WebSocket (1008)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": error.code})
        return
    await error_response(error)(scope, receive, send)
