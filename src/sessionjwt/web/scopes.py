"""Scopes on the web face: which ``/auth`` endpoints a restricted credential may reach.

Sessions are full-access; scopes restrict API keys (and, when a client asked for them,
tokens). The account-management endpoints — everything under the ``/auth`` router that is
not public, today and as routes are added: password, e-mail, factors, passkeys, API keys,
sessions list and revoke, logout, logout-all, reauthenticate — refuse a restricted
credential with 403 ``insufficient_scope`` unless it holds the ``account`` scope. The gate is
one router-wide dependency, so a route added later is covered without anyone remembering;
an endpoint a key may always reach (``GET /auth/me``) is marked with :func:`keys_allowed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request

from sessionjwt.errors import InsufficientScope
from sessionjwt.principal import Principal
from sessionjwt.tokens.scopes import ACCOUNT_SCOPE
from sessionjwt.web.credentials import current_principal
from sessionjwt.web.public import is_public

KEYS_ALLOWED_ATTRIBUTE = "__sessionjwt_keys_allowed__"

T = TypeVar("T")


def keys_allowed(target: T) -> T:
    """Mark an ``/auth`` endpoint any credential may reach, whatever its scopes."""
    setattr(target, KEYS_ALLOWED_ATTRIBUTE, True)
    return target


def account_gate(
    principal: Callable[[Request], Awaitable[Principal]],
    scope: str = ACCOUNT_SCOPE,
    what: str = "account management",
) -> Callable[[Request], Awaitable[None]]:
    """The router-wide dependency of the ``/auth`` router (see the module docstring); with
    ``scope="admin"``, of the ``/admin`` router: a key reaches it only with that scope."""

    async def gate(request: Request) -> None:
        endpoint = request.scope.get("endpoint")
        if endpoint is None or is_public(endpoint):
            return
        if getattr(endpoint, KEYS_ALLOWED_ATTRIBUTE, False) is True:
            return
        checked = current_principal(request) or await principal(request)
        if not checked.has_scopes(scope):
            raise InsufficientScope(
                f"API keys reach {what} only with the '{scope}' scope.", scopes=(scope,)
            )

    return gate
