"""Django face of the resource server: a middleware, view decorators, a light user.

::

    SESSIONJWT = {"issuer": ..., "audience": ..., "client_id": ..., "client_secret": ...}
    MIDDLEWARE = [..., "sessionjwt.resource_server.django.SessionJWTMiddleware"]

    @require_scopes("orders:read")
    def orders(request): return JsonResponse({"user": get_principal(request).user_id})

``SESSIONJWT`` is a :class:`~sessionjwt.resource_server.config.ResourceServerConfig` (e.g.
``ResourceServerConfig.from_env()``) or a dict of its keyword arguments; one
:class:`~sessionjwt.resource_server.sync.SyncResourceServer` per process is built from it on
first use, and :func:`reset` closes it (it runs by itself when ``override_settings`` changes
``SESSIONJWT``, so tests swap configurations without leaking a feed thread).

With a bearer token the middleware sets ``request.sessionjwt_principal`` and ``request.user``:
a :class:`PrincipalUser` (no database row) unless ``SESSIONJWT_USER_MAPPER`` names, as a dotted
path, a callable taking the :class:`~sessionjwt.principal.Principal` and returning your own
user. Put it *after* ``AuthenticationMiddleware``, which would otherwise overwrite
``request.user``. A bad or ended token is refused there, before any view, exactly like the
issuer: ``{"error": code, "message": text}``, its status, RFC 6750 ``WWW-Authenticate`` and
``Cache-Control: no-store`` (an unreachable issuer is 503 ``store_unavailable``, never a pass).
Without a token the request goes on anonymous (``sessionjwt_principal is None``) and
:func:`login_required` / :func:`require_roles` / :func:`require_scopes` answer 401
``missing_token``, unless ``SESSIONJWT_REQUIRED = True`` refuses it up front. A
:class:`~sessionjwt.errors.SessionJWTError` raised by a view is rendered the same way. Django
REST framework classes are in :mod:`.drf`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Concatenate, ParamSpec

from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from sessionjwt.errors import (
    ConfigurationError,
    InsufficientRole,
    InsufficientScope,
    MissingToken,
    SessionJWTError,
)
from sessionjwt.principal import Principal
from sessionjwt.resource_server.config import ResourceServerConfig
from sessionjwt.resource_server.sync import SyncResourceServer
from sessionjwt.support.refusal import refusal_parts

REQUEST_ATTRIBUTE = "sessionjwt_principal"
P = ParamSpec("P")
View = Callable[Concatenate[HttpRequest, P], HttpResponse]

_lock = threading.Lock()
_server: SyncResourceServer | None = None


@dataclass(frozen=True, slots=True)
class PrincipalUser:
    """What ``request.user`` is without a mapping hook: the issuer's view, no database row."""

    principal: Principal
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False
    is_active: ClassVar[bool] = True
    is_staff: ClassVar[bool] = False  # roles, not Django's flags, say what the user may do
    is_superuser: ClassVar[bool] = False

    @property
    def id(self) -> str:
        return self.principal.user_id

    @property
    def pk(self) -> str:
        return self.principal.user_id

    @property
    def email(self) -> str:
        return self.principal.email

    @property
    def roles(self) -> tuple[str, ...]:
        return self.principal.roles

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.principal.scopes

    def get_username(self) -> str:
        return self.principal.email

    def __str__(self) -> str:
        return self.principal.email


def resource_server() -> SyncResourceServer:
    """The process's resource server, built from ``settings.SESSIONJWT`` on first use."""
    global _server
    with _lock:
        if _server is None:
            values = getattr(settings, "SESSIONJWT", None)
            if isinstance(values, dict):
                values = ResourceServerConfig(**values)
            if not isinstance(values, ResourceServerConfig):
                raise ConfigurationError(
                    "settings.SESSIONJWT must be a ResourceServerConfig or a dict of its arguments"
                )
            _server = SyncResourceServer(values)
        return _server


def reset() -> None:
    """Close and forget the resource server; the next request builds one from the settings."""
    global _server
    with _lock:
        server, _server = _server, None
    if server is not None:
        server.close()


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == "SESSIONJWT":
        reset()


setting_changed.connect(_on_setting_changed)


def user_for(principal: Principal) -> Any:
    """``request.user`` for ``principal``: the ``SESSIONJWT_USER_MAPPER`` hook's, or ours."""
    mapper_path = getattr(settings, "SESSIONJWT_USER_MAPPER", None)
    if mapper_path:
        mapper: Callable[[Principal], Any] = import_string(mapper_path)
        return mapper(principal)
    return PrincipalUser(principal)


def error_response(error: SessionJWTError) -> HttpResponse:
    """A refusal rendered like the issuer's."""
    status, headers, body = refusal_parts(error)
    return HttpResponse(body, status=status, headers=headers, content_type="application/json")


class SessionJWTMiddleware:
    """Checks the bearer token once per request, before the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        setattr(request, REQUEST_ATTRIBUTE, None)
        header = request.META.get("HTTP_AUTHORIZATION")
        try:
            if header is None:
                if getattr(settings, "SESSIONJWT_REQUIRED", False):
                    raise MissingToken()
                return self.get_response(request)
            principal = resource_server().authenticate(header)
        except SessionJWTError as error:
            return error_response(error)
        setattr(request, REQUEST_ATTRIBUTE, principal)
        request.user = user_for(principal)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A view's own refusal (e.g. ``raise InsufficientRole()``) answered like ours."""
        return error_response(exception) if isinstance(exception, SessionJWTError) else None


def get_principal(request: HttpRequest) -> Principal | None:
    """This request's checked principal, or ``None`` for an anonymous one."""
    if not hasattr(request, REQUEST_ATTRIBUTE):  # fail loudly, not as a 401 for every token
        raise ConfigurationError("SessionJWTMiddleware is not in settings.MIDDLEWARE")
    principal = getattr(request, REQUEST_ATTRIBUTE)
    return principal if isinstance(principal, Principal) else None


def _guarded(check: Callable[[Principal], None]) -> Callable[[View[P]], View[P]]:
    def decorate(view: View[P]) -> View[P]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            principal = get_principal(request)
            try:
                if principal is None:
                    raise MissingToken()
                check(principal)
            except SessionJWTError as error:
                return error_response(error)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def _any_session(principal: Principal) -> None:
    return None


def login_required(view: View[P]) -> View[P]:
    """Any live session (401 ``missing_token`` otherwise; Django's own would redirect)."""
    return _guarded(_any_session)(view)


def require_roles(*roles: str) -> Callable[[View[P]], View[P]]:
    """Every one of ``roles`` (403 ``insufficient_role`` otherwise)."""

    def check(principal: Principal) -> None:
        if not principal.has_roles(*roles):
            raise InsufficientRole()

    return _guarded(check)


def require_scopes(*scopes: str) -> Callable[[View[P]], View[P]]:
    """Every one of ``scopes`` (403 ``insufficient_scope`` with RFC 6750's header otherwise)."""

    def check(principal: Principal) -> None:
        if not principal.has_scopes(*scopes):
            raise InsufficientScope(scopes=tuple(scopes))

    return _guarded(check)


__all__: list[str] = [
    "PrincipalUser",
    "SessionJWTMiddleware",
    "error_response",
    "get_principal",
    "login_required",
    "require_roles",
    "require_scopes",
    "reset",
    "resource_server",
    "user_for",
]
