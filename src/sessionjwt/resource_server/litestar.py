"""Litestar face of the resource server: a plugin, an authentication middleware and guards.

::

    @get("/orders", guards=[requires_login])
    async def orders(request: Request[Principal, Principal, State]) -> dict[str, str]:
        return {"user": request.user.user_id}

    app = Litestar([orders], plugins=[SessionJWTPlugin(ResourceServerConfig.from_env())])

Litestar is async, so the async :class:`~sessionjwt.resource_server.verifier.ResourceServer`
runs on the app's own loop (no thread, unlike :mod:`.sync`); the app's lifespan starts it (keys
fetched, feed subscribed) and closes it. The middleware has Starlette's three outcomes: no
``Authorization`` header → anonymous (``request.user`` is ``None``; ``required=True`` refuses
instead); a bad or ended token → the issuer's refusal; a good one → the :class:`Principal` as
``request.user`` and ``request.auth``. ``auth`` is the principal, not the token's claims: the
roles and scopes that count are the issuer's current answer, not what the token said at issue.

The guards are the authority: on a route the middleware skipped (``exclude`` patterns, the
``exclude_from_auth`` opt key, ``OPTIONS``) they check the header themselves. Every refusal,
including a :class:`~sessionjwt.errors.SessionJWTError` raised by a handler, is rendered by
:func:`~sessionjwt.support.refusal.refusal_parts`, so it is the issuer's byte for byte. The
OpenAPI schema declares an HTTP bearer (JWT) scheme that each guarded route references.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from copy import copy
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import WebSocketException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.plugins import InitPlugin, ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.status_codes import WS_1008_POLICY_VIOLATION
from litestar.types import ASGIApp, Method

from sessionjwt.errors import InsufficientRole, InsufficientScope, MissingToken, SessionJWTError
from sessionjwt.principal import Principal
from sessionjwt.resource_server.config import ResourceServerConfig
from sessionjwt.resource_server.verifier import ResourceServer
from sessionjwt.support.bearer import parse_bearer
from sessionjwt.support.refusal import refusal_parts

SECURITY_SCHEME = "SessionJWT"
EXCLUDE_KEY = "exclude_from_auth"  # Litestar's own opt key: ``@get(..., exclude_from_auth=True)``


class SessionJWTMiddleware(AbstractAuthenticationMiddleware):
    """Checks the bearer token once per request, before the guards and the handler run."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        resource_server: ResourceServer,
        required: bool = False,
        exclude: str | list[str] | None = None,
        exclude_http_methods: Sequence[Method] | None = None,
    ) -> None:
        super().__init__(
            app,
            exclude=exclude,
            exclude_from_auth_key=EXCLUDE_KEY,
            exclude_http_methods=exclude_http_methods,
        )
        self._rs = resource_server
        self._required = required

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("Authorization")
        if header is None and not self._required:
            return AuthenticationResult(user=None, auth=None)
        with closing_websockets(connection):
            principal = await self._rs.check(parse_bearer(header))  # the issuer's refusals
        return AuthenticationResult(user=principal, auth=principal)


@contextmanager
def closing_websockets(connection: ASGIConnection[Any, Any, Any, Any]) -> Iterator[None]:
    """A refused WebSocket is closed 1008 with the error code as the reason, as the issuer
    closes its own (Litestar would otherwise close it 4500, as if the server had failed)."""
    try:
        yield
    except SessionJWTError as error:
        if connection.scope["type"] != ScopeType.WEBSOCKET:
            raise
        raise WebSocketException(detail=error.code, code=WS_1008_POLICY_VIOLATION) from error


def error_response(_request: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    """A refusal rendered like the issuer's (the app's ``SessionJWTError`` handler)."""
    if not isinstance(error, SessionJWTError):
        raise error
    status, headers, body = refusal_parts(error)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


class SessionJWTPlugin(InitPlugin, ReceiveRoutePlugin):
    """Wires a resource server into a Litestar app: middleware, lifespan, refusals, OpenAPI.

    ``resource_server`` is a config (the plugin builds the server) or a server; either way the
    app's lifespan starts and closes it. ``required=True`` refuses a request without a bearer
    token in the middleware (401 ``missing_token``) unless the route is excluded, by
    ``exclude`` (path regexes, as Litestar's) or ``@get(..., exclude_from_auth=True)``.
    """

    __slots__ = ("_exclude", "exclude", "exclude_http_methods", "required", "rs")

    def __init__(
        self,
        resource_server: ResourceServer | ResourceServerConfig,
        *,
        required: bool = False,
        exclude: str | list[str] | None = None,
        exclude_http_methods: Sequence[Method] | None = None,  # default: OPTIONS (preflight)
    ) -> None:
        if isinstance(resource_server, ResourceServerConfig):
            resource_server = ResourceServer(resource_server)
        self.rs = resource_server
        self.required = required
        self.exclude = exclude
        self.exclude_http_methods = exclude_http_methods
        patterns = [exclude] if isinstance(exclude, str) else exclude or []
        self._exclude = re.compile("|".join(patterns)) if patterns else None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.middleware.insert(0, self.middleware)
        app_config.lifespan.append(self.rs.lifespan)
        app_config.exception_handlers.setdefault(SessionJWTError, error_response)
        if app_config.openapi_config is not None:  # Litestar's default is shared: copy it
            openapi = copy(app_config.openapi_config)
            existing = openapi.components
            openapi.components = [
                *(existing if isinstance(existing, list) else [existing]),
                Components(security_schemes={SECURITY_SCHEME: bearer_scheme()}),
            ]
            app_config.openapi_config = openapi
        return app_config

    @property
    def middleware(self) -> DefineMiddleware:
        return DefineMiddleware(
            SessionJWTMiddleware,
            resource_server=self.rs,
            required=self.required,
            exclude=self.exclude,
            exclude_http_methods=self.exclude_http_methods,
        )

    def receive_route(self, route: BaseRoute) -> None:
        """Make each protected operation reference the bearer scheme in the OpenAPI schema."""
        if not isinstance(route, HTTPRoute):
            return
        requirement: SecurityRequirement = {SECURITY_SCHEME: []}
        for handler in route.route_handlers:
            if self._protects(route, handler) and requirement not in (handler.security or ()):
                handler.security = [*(handler.security or ()), requirement]

    def _protects(self, route: HTTPRoute, handler: HTTPRouteHandler) -> bool:
        """A sessionjwt guard on any layer; or, with ``required``, every route not excluded."""
        if any(
            isinstance(guard, Requirement)
            for layer in handler.ownership_layers
            for guard in layer.guards or ()
        ):
            return True
        excluded = bool(handler.opt.get(EXCLUDE_KEY)) or bool(
            self._exclude and self._exclude.search(route.path)
        )
        return self.required and not excluded


def bearer_scheme() -> SecurityScheme:
    return SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="An access token issued by the sessionjwt issuer (Authorization: Bearer …).",
    )


# -- guards ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """A Litestar guard: a live session holding every one of ``roles`` and ``scopes``."""

    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
    ) -> None:
        with closing_websockets(connection):
            principal = await principal_of(connection)
            if not principal.has_roles(*self.roles):
                raise InsufficientRole()
            if not principal.has_scopes(*self.scopes):
                raise InsufficientScope(scopes=self.scopes)


async def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The request's principal (401 ``missing_token`` when anonymous). Reuses the middleware's
    answer; where the middleware was skipped, checks the header with the plugin's server."""
    checked = connection.scope.get("user")
    if isinstance(checked, Principal):
        return checked
    header = connection.headers.get("Authorization")
    if header is None:
        raise MissingToken()
    try:
        plugin = connection.app.plugins.get(SessionJWTPlugin)
    except KeyError:
        raise RuntimeError("a sessionjwt guard needs SessionJWTPlugin on the app") from None
    principal = await plugin.rs.check(parse_bearer(header))
    connection.scope["user"] = connection.scope["auth"] = principal
    return principal


def get_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """This request's checked principal, or ``None`` for an anonymous one."""
    checked = connection.scope.get("user")
    return checked if isinstance(checked, Principal) else None


requires_login = Requirement()
"""Any live session (401 with the issuer's code otherwise)."""


def requires_roles(*roles: str) -> Requirement:
    """Every one of ``roles`` (403 ``insufficient_role`` otherwise)."""
    return Requirement(roles=roles)


def requires_scopes(*scopes: str) -> Requirement:
    """Every one of ``scopes`` (403 ``insufficient_scope`` with RFC 6750's header otherwise)."""
    return Requirement(scopes=scopes)


__all__ = [
    "SECURITY_SCHEME",
    "Requirement",
    "SessionJWTMiddleware",
    "SessionJWTPlugin",
    "error_response",
    "get_principal",
    "principal_of",
    "requires_login",
    "requires_roles",
    "requires_scopes",
]
