"""The API: a plain Django view and two DRF views, protected three ways."""

from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sessionjwt.resource_server.django import get_principal, require_roles
from sessionjwt.resource_server.drf import HasRoles


class Health(APIView):
    """No token needed: ``AllowAny`` overrides the default ``LoginRequired``."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class Orders(APIView):
    """Any live session (the default permission). ``worker`` says which process answered."""

    def get(self, request: Request) -> Response:
        return Response({"user": request.auth.user_id, "orders": [], "worker": os.getpid()})


class CancelOrder(APIView):
    """Only the issuer's ``admin`` role (403 ``insufficient_role`` otherwise)."""

    permission_classes = [HasRoles("admin")]

    def delete(self, request: Request, order_id: str) -> Response:
        return Response({"cancelled": order_id, "by": request.auth.user_id})


@require_roles("admin")
def report(request: HttpRequest) -> JsonResponse:
    """A plain Django view behind the middleware and a decorator."""
    principal = get_principal(request)  # never None here: the decorator refused anonymous
    return JsonResponse({"report": [], "by": principal.user_id if principal else None})
