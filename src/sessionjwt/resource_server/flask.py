"""Flask face of the resource server: an extension, ``current_principal`` and decorators.

::

    app.config["SESSIONJWT"] = {"issuer": ..., "audience": ..., "client_id": ..., ...}
    SessionJWT(app)                       # or sessionjwt.init_app(app) in a factory

    @app.get("/orders")
    @login_required
    def orders(): return {"user": current_principal.user_id}

``app.config["SESSIONJWT"]`` holds the keyword arguments of
:class:`~sessionjwt.resource_server.config.ResourceServerConfig` (a ready config may be passed
as ``SessionJWT(app, config=...)`` instead). ``SESSIONJWT_REQUIRED`` (default ``False``): refuse
every request without a bearer token before any view runs. Otherwise a request without one goes
on anonymous and ``@login_required`` answers 401 ``missing_token``. Refusals are the issuer's:
``{"error": code, "message": text}``, its statuses, and RFC 6750 ``WWW-Authenticate``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

from flask import Flask, Response, current_app, g, request
from werkzeug.local import LocalProxy

from sessionjwt.errors import InsufficientRole, InsufficientScope, MissingToken, SessionJWTError
from sessionjwt.principal import Principal
from sessionjwt.resource_server.config import ResourceServerConfig
from sessionjwt.resource_server.sync import SyncResourceServer
from sessionjwt.support.refusal import refusal_parts

EXTENSION_KEY = "sessionjwt"
_G_KEY = "sessionjwt_principal"
P = ParamSpec("P")
R = TypeVar("R")


class SessionJWT:
    """Checks the bearer token of every request once, before the views run."""

    def __init__(self, app: Flask | None = None, *, config: ResourceServerConfig | None = None):
        self._config = config
        self.rs: SyncResourceServer | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        config = self._config or ResourceServerConfig(**app.config["SESSIONJWT"])
        self.rs = SyncResourceServer(config)
        app.extensions[EXTENSION_KEY] = self
        required = bool(app.config.get("SESSIONJWT_REQUIRED", False))
        app.before_request(functools.partial(self._authenticate, required))
        app.register_error_handler(SessionJWTError, error_response)

    def _authenticate(self, required: bool) -> Response | None:
        header = request.headers.get("Authorization")
        if header is None and not required:
            return None
        if self.rs is None:  # init_app set it; only a misuse gets here
            raise RuntimeError("SessionJWT.init_app(app) has not run")
        try:
            setattr(g, _G_KEY, self.rs.authenticate(header))
        except SessionJWTError as error:
            return error_response(error)
        return None


def error_response(error: Exception) -> Response:
    """A refusal rendered like the issuer's (also the app's ``SessionJWTError`` handler)."""
    if not isinstance(error, SessionJWTError):
        raise error
    status, headers, body = refusal_parts(error)
    return Response(body, status=status, headers=headers, mimetype="application/json")


def get_principal() -> Principal | None:
    """This request's checked principal, or ``None`` for an anonymous one."""
    if EXTENSION_KEY not in current_app.extensions:
        raise RuntimeError("SessionJWT(app) was not initialised on this app")
    principal = g.get(_G_KEY)
    return principal if isinstance(principal, Principal) else None


def _required_principal() -> Principal:
    principal = get_principal()
    if principal is None:
        raise MissingToken()
    return principal


current_principal: Principal = cast(Principal, LocalProxy(_required_principal))
"""The request's principal; reading it on an anonymous request is 401 ``missing_token``."""


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Any live session (401 with the issuer's code otherwise)."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        _required_principal()
        return view(*args, **kwargs)

    return wrapped


def require_roles(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Every one of ``roles`` (403 ``insufficient_role`` otherwise)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _required_principal().has_roles(*roles):
                raise InsufficientRole()
            return view(*args, **kwargs)

        return wrapped

    return decorate


def require_scopes(*scopes: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Every one of ``scopes`` (403 ``insufficient_scope`` with RFC 6750's header otherwise)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _required_principal().has_scopes(*scopes):
                raise InsufficientScope(scopes=tuple(scopes))
            return view(*args, **kwargs)

        return wrapped

    return decorate


__all__: list[str] = [
    "SessionJWT",
    "current_principal",
    "error_response",
    "get_principal",
    "login_required",
    "require_roles",
    "require_scopes",
]
