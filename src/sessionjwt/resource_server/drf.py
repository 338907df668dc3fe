"""Django REST framework face: an authentication class and permissions for roles and scopes.

::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "sessionjwt.resource_server.drf.SessionJWTAuthentication"],
        "EXCEPTION_HANDLER": "sessionjwt.resource_server.drf.exception_handler",
    }
    class Orders(APIView):
        permission_classes = [HasScopes("orders:read")]

``request.user`` is :mod:`.django`'s user for the principal (a light
:class:`~sessionjwt.resource_server.django.PrincipalUser` unless ``SESSIONJWT_USER_MAPPER``
maps one) and ``request.auth`` the :class:`~sessionjwt.principal.Principal`. Refusals keep the
issuer's body ``{"error": code, "message": text}`` and status (DRF's own would be
``{"detail": ...}``) and its ``WWW-Authenticate``; with :func:`exception_handler` they also
carry every other header the issuer sends (``Cache-Control: no-store``, ``Retry-After``).
Settings are :mod:`.django`'s; with its middleware installed the token is checked only once.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from sessionjwt.errors import InsufficientRole, InsufficientScope, MissingToken, SessionJWTError
from sessionjwt.principal import Principal
from sessionjwt.resource_server.django import REQUEST_ATTRIBUTE, resource_server, user_for
from sessionjwt.support.refusal import refusal_parts


class Refused(APIException):
    """A :class:`SessionJWTError` as DRF renders it: the issuer's body, status and headers."""

    def __init__(self, error: SessionJWTError) -> None:
        status, headers, _ = refusal_parts(error)
        super().__init__(detail={"error": error.code, "message": error.message})
        self.status_code = status
        self.headers = headers
        self.auth_header = headers.get("WWW-Authenticate")
        self.wait = int(headers["Retry-After"]) if "Retry-After" in headers else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus every header of a refusal and the envelope for a raised
    :class:`SessionJWTError` (``raise InsufficientRole()`` in a view)."""
    # Imported here: DRF imports the authentication classes while loading its views module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, SessionJWTError):
        exc = Refused(exc)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, Refused):
        for name, value in exc.headers.items():
            response[name] = value
    return response


class SessionJWTAuthentication(BaseAuthentication):
    """``(user, principal)`` for a live bearer token; ``None`` (anonymous) without one."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        checked = getattr(request._request, REQUEST_ATTRIBUTE, None)
        if isinstance(checked, Principal):  # the middleware already checked it
            return user_for(checked), checked
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        try:
            principal = resource_server().authenticate(header)
        except SessionJWTError as error:
            raise Refused(error) from error
        setattr(request._request, REQUEST_ATTRIBUTE, principal)
        return user_for(principal), principal

    def authenticate_header(self, request: Request) -> str:
        """What DRF sends with its own 401s (e.g. ``IsAuthenticated``'s)."""
        return 'Bearer realm="sessionjwt"'


def principal_of(request: Request) -> Principal:
    """The request's principal, or 401 ``missing_token``."""
    if isinstance(request.auth, Principal):
        return request.auth
    checked = getattr(request._request, REQUEST_ATTRIBUTE, None)
    if isinstance(checked, Principal):
        return checked
    raise Refused(MissingToken())


class LoginRequired(BasePermission):
    """Any live session; 401 ``missing_token`` in the issuer's envelope otherwise (DRF's
    ``IsAuthenticated`` answers the same status with ``{"detail": ...}``)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal_of(request)
        return True


class _Requiring(BasePermission):
    """A permission *instance* usable in ``permission_classes`` (DRF calls each entry)."""

    def __init__(self, *required: str) -> None:
        self.required = required

    def __call__(self) -> _Requiring:
        return self


class HasRoles(_Requiring):
    """Every one of the roles (403 ``insufficient_role`` otherwise)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not principal_of(request).has_roles(*self.required):
            raise Refused(InsufficientRole())
        return True


class HasScopes(_Requiring):
    """Every one of the scopes (403 ``insufficient_scope`` with RFC 6750's header otherwise)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not principal_of(request).has_scopes(*self.required):
            raise Refused(InsufficientScope(scopes=self.required))
        return True


__all__ = [
    "HasRoles",
    "HasScopes",
    "LoginRequired",
    "Refused",
    "SessionJWTAuthentication",
    "exception_handler",
    "principal_of",
]
