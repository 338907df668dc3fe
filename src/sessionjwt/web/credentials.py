"""Where a request's token comes from: the RFC 6750 bearer header or the access cookie (after
the same-origin check), and where the checked principal is kept on the request."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import HTTPConnection
from starlette.types import Scope

from sessionjwt.errors import InvalidToken
from sessionjwt.principal import Principal
from sessionjwt.support.bearer import parse_bearer as parse_bearer  # re-exported
from sessionjwt.tokens.api_key import is_api_key
from sessionjwt.web.cookies import CookieTransport
from sessionjwt.web.csrf import SAFE_METHODS, check_same_origin

PRINCIPAL_STATE_KEY = "sessionjwt_principal"


def bearer_token(connection: HTTPConnection) -> str:
    """The bearer token of a request (see :func:`parse_bearer`)."""
    return parse_bearer(connection.headers.get("authorization"))


def cookie_token(
    scope: Scope, cookies: CookieTransport, trusted_origins: Iterable[str] = ()
) -> str | None:
    """The access cookie's token, once the request has shown it is not a cross-site forgery.

    Only unsafe methods and WebSocket handshakes (cross-site WebSocket hijacking) are checked:
    a cross-site GET cannot change anything, and must keep working for links from mail."""
    token = cookies.access_token(scope)
    if token is None:
        return None
    if is_api_key(token):  # a key is a bearer credential only: never a cookie, never a URL
        raise InvalidToken("An API key goes in the Authorization header, never in a cookie.")
    if scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS:
        check_same_origin(scope, frozenset(trusted_origins))
    return token


def request_token(
    connection: HTTPConnection,
    cookies: CookieTransport | None = None,
    trusted_origins: Iterable[str] = (),
) -> str:
    """Bearer if the request has an ``Authorization`` header, else the access cookie."""
    header = connection.headers.get("authorization")
    if header is None and cookies is not None:
        token = cookie_token(connection.scope, cookies, trusted_origins)
        if token is not None:
            return token
    return parse_bearer(header)


def authorization_header(scope: Scope) -> bytes | None:
    """The first ``Authorization`` header, read straight from the ASGI scope (hot path)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value)
    return None


def current_principal(connection: HTTPConnection) -> Principal | None:
    state = connection.scope.get("state") or {}
    principal = state.get(PRINCIPAL_STATE_KEY)
    return principal if isinstance(principal, Principal) else None
