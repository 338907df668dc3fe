"""Cookie transport: the token pair of the JSON API, carried where page scripts cannot read it.

Bearer tokens in ``localStorage`` are one XSS away from theft; these cookies are HttpOnly,
Secure and SameSite, and prefixed so that neither a sibling subdomain nor a plain-HTTP page can
plant or overwrite them:

* ``__Host-sjwt-access``: the short-lived access token, ``Path=/``;
* ``__Secure-sjwt-refresh``: the refresh token, sent only to the refresh endpoint
  (``__Host-`` would force ``Path=/`` and so send it on every request);
* ``__Host-sjwt-csrf``: the double-submit value of the forms (see :mod:`sessionjwt.web.csrf`);
* ``__Host-sjwt-device``: the known-device token of the last password sign-in
  (:mod:`sessionjwt.accounts.known_devices`), kept across sign-outs.

``cookie_secure=False`` drops ``Secure`` and the prefixes, but only when the request's host is
loopback (plain-HTTP development on ``localhost``); any other host keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Scope

from sessionjwt.sessions.issue import TokenPair
from sessionjwt.settings import Settings

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class CookieNames:
    access: str
    refresh: str
    csrf: str


SECURE_NAMES = CookieNames("__Host-sjwt-access", "__Secure-sjwt-refresh", "__Host-sjwt-csrf")
LOOPBACK_DEV_NAMES = CookieNames("sjwt-access", "sjwt-refresh", "sjwt-csrf")


def request_host(scope: Scope) -> str:
    """The host the browser addressed (``Host`` header, port and brackets stripped)."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = bytes(value).decode("latin-1").strip().lower()
            if host.startswith("["):
                return host[1 : host.find("]")] if "]" in host else host
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    server = scope.get("server")
    return str(server[0]).lower() if server else ""


def raw_cookies(scope: Scope) -> dict[str, str]:
    """Cookies of a request, leniently (one malformed pair must not hide the others), the first
    value of a name winning: RFC 6265 §5.4 has browsers send the most specific cookie first."""
    jar: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name != b"cookie":
            continue
        for chunk in bytes(value).decode("latin-1").split(";"):
            key, sep, val = chunk.strip().partition("=")
            if sep and key and key not in jar:
                jar[key] = val.strip().strip('"')
    return jar


class CookieTransport:
    """Reads and writes sessionjwt's cookies, with the attributes :attr:`Settings` asks for."""

    def __init__(self, settings: Settings) -> None:
        self.refresh_path = settings.cookie_refresh_path
        self.sign_in_path = settings.sign_in_path
        self._samesite: Literal["lax", "strict"] = settings.cookie_samesite
        self._always_secure = settings.cookie_secure
        self._device_ttl = int(settings.login_known_device_ttl.total_seconds())

    # -- which cookies a request uses ---------------------------------------------------------

    def secure_for(self, scope: Scope) -> bool:
        """Secure and prefixed, unless relaxed by configuration *and* the host is loopback."""
        return self._always_secure or request_host(scope) not in LOOPBACK_HOSTS

    def names(self, scope: Scope) -> CookieNames:
        return SECURE_NAMES if self.secure_for(scope) else LOOPBACK_DEV_NAMES

    def access_token(self, scope: Scope) -> str | None:
        return raw_cookies(scope).get(self.names(scope).access) or None

    def refresh_token(self, scope: Scope) -> str | None:
        return raw_cookies(scope).get(self.names(scope).refresh) or None

    def csrf_value(self, scope: Scope) -> str | None:
        return raw_cookies(scope).get(self.names(scope).csrf) or None

    # -- writing ---------------------------------------------------------------------------

    def set_tokens(self, response: Response, pair: TokenPair, connection: HTTPConnection) -> None:
        """Put a freshly issued or rotated pair in the browser; never cached on the way."""
        names = self.names(connection.scope)
        secure = self.secure_for(connection.scope)
        response.set_cookie(
            names.access,
            pair.access_token,
            max_age=pair.expires_in,
            path="/",
            secure=secure,
            httponly=True,
            samesite=self._samesite,
        )
        response.set_cookie(
            names.refresh,
            pair.refresh_token,
            max_age=pair.refresh_expires_in,
            path=self.refresh_path,
            secure=secure,
            httponly=True,
            samesite=self._samesite,
        )
        response.headers["Cache-Control"] = "no-store"

    def clear(self, response: Response, connection: HTTPConnection) -> None:
        """Forget the pair in the browser (sign-out, or a refresh that was refused)."""
        names = self.names(connection.scope)
        secure = self.secure_for(connection.scope)
        for name, path in ((names.access, "/"), (names.refresh, self.refresh_path)):
            response.delete_cookie(
                name, path=path, secure=secure, httponly=True, samesite=self._samesite
            )
        response.headers["Cache-Control"] = "no-store"

    def set_csrf(self, response: Response, connection: HTTPConnection, value: str) -> None:
        """The double-submit cookie: Strict, so no other site's request ever carries it."""
        response.set_cookie(
            self.names(connection.scope).csrf,
            value,
            path="/",
            secure=self.secure_for(connection.scope),
            httponly=True,
            samesite="strict",
        )

    # -- a sign-in under way at an identity provider ------------------------------------------

    def flow_name(self, scope: Scope) -> str:
        return "__Host-sjwt-flow" if self.secure_for(scope) else "sjwt-flow"

    def flow_value(self, scope: Scope) -> str | None:
        return raw_cookies(scope).get(self.flow_name(scope)) or None

    def set_flow(self, response: Response, connection: HTTPConnection, value: str) -> None:
        """Binds a provider callback to this browser. Lax, whatever ``cookie_samesite`` says:
        the provider's redirect back is a cross-site top-level navigation, which Strict
        cookies do not follow."""
        response.set_cookie(
            self.flow_name(connection.scope),
            value,
            max_age=600,
            path="/",
            secure=self.secure_for(connection.scope),
            httponly=True,
            samesite="lax",
        )

    def clear_flow(self, response: Response, connection: HTTPConnection) -> None:
        response.delete_cookie(
            self.flow_name(connection.scope),
            path="/",
            secure=self.secure_for(connection.scope),
            httponly=True,
            samesite="lax",
        )

    # -- a sign-in waiting for its second factor ------------------------------------------------

    def pending_name(self, scope: Scope) -> str:
        return "__Host-sjwt-mfa" if self.secure_for(scope) else "sjwt-mfa"

    def pending_value(self, scope: Scope) -> str | None:
        """The ``mfa_token`` of the browser's pending sign-in: an HttpOnly cookie, so page
        scripts and URLs never hold it."""
        return raw_cookies(scope).get(self.pending_name(scope)) or None

    def set_pending(
        self, response: Response, connection: HTTPConnection, mfa_token: str, ttl: int
    ) -> None:
        """Lax, like the flow cookie: a provider's redirect back may be what set it."""
        response.set_cookie(
            self.pending_name(connection.scope),
            mfa_token,
            max_age=max(1, ttl),
            path="/",
            secure=self.secure_for(connection.scope),
            httponly=True,
            samesite="lax",
        )

    def clear_pending(self, response: Response, connection: HTTPConnection) -> None:
        response.delete_cookie(
            self.pending_name(connection.scope),
            path="/",
            secure=self.secure_for(connection.scope),
            httponly=True,
            samesite="lax",
        )

    # -- a browser that signed in before --------------------------------------------------------

    def device_name(self, scope: Scope) -> str:
        return "__Host-sjwt-device" if self.secure_for(scope) else "sjwt-device"

    def known_device(self, scope: Scope) -> str | None:
        return raw_cookies(scope).get(self.device_name(scope)) or None

    def set_known_device(
        self, response: Response, connection: HTTPConnection, token: str | None
    ) -> None:
        """Keep the token a password sign-in just handed out (None: nothing to keep)."""
        if token is None:
            return
        response.set_cookie(
            self.device_name(connection.scope),
            token,
            max_age=self._device_ttl,
            path="/",
            secure=self.secure_for(connection.scope),
            httponly=True,
            samesite=self._samesite,
        )

    # -- where browsers are sent ---------------------------------------------------------------

    def refresh_url(self, next_path: str) -> str:
        return f"{self.refresh_path}?next={quote(safe_next(next_path), safe='/')}"

    def sign_in_url(self, next_path: str | None = None) -> str:
        if not next_path or safe_next(next_path) == "/":
            return self.sign_in_path
        return f"{self.sign_in_path}?next={quote(safe_next(next_path), safe='/')}"

    def second_factor_url(self, next_path: str | None = None) -> str:
        """The sign-in page's second step, for a browser holding a pending sign-in."""
        step = f"{self.sign_in_path.rstrip('/')}/second-factor"
        if not next_path or safe_next(next_path) == "/":
            return step
        return f"{step}?next={quote(safe_next(next_path), safe='/')}"


def safe_next(candidate: str | None, default: str = "/") -> str:
    """A local path to return to after sign-in, never another site (no open redirect).

    Only ``/path?query`` is kept: ``//evil.example``, ``/\\evil.example``, schemes, control
    characters and anything else a browser might resolve elsewhere fall back to ``default``.
    """
    if not candidate or len(candidate) > 2048:
        return default
    if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return default
    if any(ord(char) < 0x21 or char in '\\"<>`' for char in candidate):
        return default
    return candidate


def path_with_query(scope: Scope) -> str:
    """The request's own path and query string, to come back to after a refresh or sign-in."""
    query = scope.get("query_string", b"")
    path = str(scope.get("path", "/"))
    return f"{path}?{query.decode('latin-1')}" if query else path
