"""A refusal as ``(status, headers, JSON body)``: ``{"error": code, "message": text}`` with
the headers the RFCs ask for. Framework-neutral: the issuer's Starlette responses and every
resource-server face (Flask, Django) render it, so all of them answer exactly alike."""

from __future__ import annotations

import json
import re

from sessionjwt.errors import (
    AuthenticationError,
    InsufficientRole,
    InsufficientScope,
    MissingToken,
    RateLimited,
    SessionJWTError,
)

# Characters that cannot appear in an RFC 7235 quoted-string as we emit it.
_UNSAFE_IN_QUOTED = re.compile(r'["\\\x00-\x1f\x7f]')


def refusal_parts(error: SessionJWTError) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, JSON body)`` of a refusal."""
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
    return error.status, headers, body
