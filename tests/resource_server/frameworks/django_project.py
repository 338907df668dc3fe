"""A minimal Django project for the Django/DRF faces' tests: settings, views, URLs.

:func:`configure` sets Django up once per process (pytest-xdist runs each test module in one
worker, and Django's settings are process-wide); ``SESSIONJWT`` itself is set per test with
``override_settings``, which also closes the previous resource server.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

from sessionjwt.principal import Principal


def configure() -> None:
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-test-only-not-secret",  # Django refuses an empty one
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
        ],
        MIDDLEWARE=["sessionjwt.resource_server.django.SessionJWTMiddleware"],
        DATABASES={},
        USE_TZ=True,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "sessionjwt.resource_server.drf.SessionJWTAuthentication"
            ],
            "DEFAULT_PERMISSION_CLASSES": [],
            "EXCEPTION_HANDLER": "sessionjwt.resource_server.drf.exception_handler",
            "UNAUTHENTICATED_USER": None,
        },
    )
    django.setup()


configure()

from rest_framework.permissions import IsAuthenticated  # noqa: E402 - needs settings first
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from sessionjwt.errors import InsufficientRole  # noqa: E402
from sessionjwt.resource_server.django import (  # noqa: E402
    get_principal,
    login_required,
    require_roles,
    require_scopes,
)
from sessionjwt.resource_server.drf import HasRoles, HasScopes, LoginRequired  # noqa: E402


class MappedUser:
    """What an app's ``SESSIONJWT_USER_MAPPER`` hook might return."""

    def __init__(self, principal: Principal) -> None:
        self.label = f"mapped:{principal.email}"
        self.is_authenticated = True


def map_user(principal: Principal) -> MappedUser:
    return MappedUser(principal)


@login_required
def me(request: HttpRequest) -> JsonResponse:
    principal = get_principal(request)
    assert principal is not None
    user: Any = request.user
    return JsonResponse(
        {"user": principal.user_id, "session": principal.session_id, "str": str(user)}
    )


@require_roles("admin")
def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"admin": True})


@require_scopes("orders:read")
def orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"orders": []})


def open_view(request: HttpRequest) -> JsonResponse:
    principal = get_principal(request)
    return JsonResponse({"user": principal.user_id if principal else None})


def raises(request: HttpRequest) -> JsonResponse:
    raise InsufficientRole()


class ApiMe(APIView):
    permission_classes = [LoginRequired]

    def get(self, request: Request) -> Response:
        user: Any = request.user
        label = getattr(user, "label", None) or user.email
        return Response({"user": label, "session": request.auth.session_id})


class ApiAdmin(APIView):
    permission_classes = [HasRoles("admin")]

    def get(self, request: Request) -> Response:
        return Response({"admin": True})


class ApiOrders(APIView):
    permission_classes = [HasScopes("orders:read")]

    def get(self, request: Request) -> Response:
        return Response({"orders": []})


class ApiDrfIsAuthenticated(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class ApiRaises(APIView):
    def get(self, request: Request) -> Response:
        raise InsufficientRole()


urlpatterns = [
    path("me", me),
    path("admin", admin),
    path("orders", orders),
    path("open", open_view),
    path("raises", raises),
    path("api/me", ApiMe.as_view()),
    path("api/admin", ApiAdmin.as_view()),
    path("api/orders", ApiOrders.as_view()),
    path("api/drf-authenticated", ApiDrfIsAuthenticated.as_view()),
    path("api/raises", ApiRaises.as_view()),
]
