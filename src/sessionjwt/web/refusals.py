"""A refusal, rendered once for every face: ``{"error": code, "message": text}`` with the
status and the headers the RFCs ask for (``WWW-Authenticate``, ``Retry-After``)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sessionjwt.errors import SessionJWTError
from sessionjwt.support.refusal import refusal_parts


def error_response(error: SessionJWTError) -> Response:
    """``{"error": code, "message": text}`` with the status and headers the RFCs ask for."""
    status, headers, body = refusal_parts(error)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def refuse(error: SessionJWTError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a refused HTTP request with :func:`error_response`; close a WebSocket (1008)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": error.code})
        return
    await error_response(error)(scope, receive, send)
