"""CSRF defence for cookie-authenticated requests: on by default, in two independent layers.

1. **Origin + Fetch-Metadata** (every unsafe request that a cookie authenticates, in the guard,
   and every form of the pages): ``Sec-Fetch-Site`` must be ``same-origin`` (or ``none``: the
   user's own action); without Fetch-Metadata, ``Origin`` must be this host or a configured
   trusted origin. A request with neither header is refused: browsers send at least one on
   every unsafe request since 2020, so its absence means "not a browser" — and non-browser
   clients use bearer tokens, which no other site can make a browser send.
2. **Double-submit form token** (the pages' forms, sign-in included against login CSRF): a
   random value in a ``__Host-`` cookie, which neither a sibling subdomain nor plain HTTP can
   plant, must come back in the form's hidden field.

Chosen over a server-side synchronizer token because it needs no storage and no shared secret
across instances; see docs/browser.md, "CSRF".
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from hmac import compare_digest

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Scope

from sessionjwt.errors import CsrfRefused
from sessionjwt.web.cookies import CookieTransport

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_FIELD = "csrf_token"
_ALLOWED_SITES = frozenset({"same-origin", "none"})


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value).decode("latin-1").strip()
    return None


def _own_origins(scope: Scope) -> set[str]:
    """This request's origin as the browser wrote it: the scheme may be lost behind a TLS proxy,
    so plain ``http`` also matches ``https`` (never the reverse)."""
    host = (_header(scope, b"host") or "").lower()
    if not host:
        return set()
    scheme = str(scope.get("scheme", "http")).replace("ws", "http")
    return {f"https://{host}"} if scheme == "https" else {f"http://{host}", f"https://{host}"}


def check_same_origin(scope: Scope, trusted_origins: Collection[str] = ()) -> None:
    """Raise :class:`CsrfRefused` unless the request demonstrably came from this site."""
    origin = _header(scope, b"origin")
    origin = origin.lower() if origin else None
    if origin is not None and origin in trusted_origins:
        return
    site = _header(scope, b"sec-fetch-site")
    if site is not None:
        if site.lower() in _ALLOWED_SITES:
            return
        raise CsrfRefused(
            f"Cross-site request refused: Sec-Fetch-Site is {site.lower()!r}, not same-origin."
        )
    if origin is None or origin == "null":
        raise CsrfRefused(
            "Cross-site request refused: the request carries neither Sec-Fetch-Site nor Origin."
        )
    if origin not in _own_origins(scope):
        raise CsrfRefused("Cross-site request refused: the Origin is not this site.")


def form_token(connection: HTTPConnection, response: Response, cookies: CookieTransport) -> str:
    """The value to put in a form's hidden ``csrf_token`` field (the cookie is set if new)."""
    current = cookies.csrf_value(connection.scope)
    if current and 32 <= len(current) <= 128:
        return current
    value = secrets.token_urlsafe(32)
    cookies.set_csrf(response, connection, value)
    return value


def check_form_token(
    connection: HTTPConnection, submitted: str | None, cookies: CookieTransport
) -> None:
    """Raise :class:`CsrfRefused` unless the form sent back the value of its cookie."""
    expected = cookies.csrf_value(connection.scope)
    if not expected or not submitted or not compare_digest(expected, submitted):
        raise CsrfRefused(
            "This form expired or was not sent from this site. Reload the page and try again."
        )


def check_form(
    connection: HTTPConnection,
    submitted: str | None,
    cookies: CookieTransport,
    trusted_origins: Collection[str] = (),
) -> None:
    """Both layers, as every page form applies them."""
    check_same_origin(connection.scope, trusted_origins)
    check_form_token(connection, submitted, cookies)
