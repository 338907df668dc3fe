"""FastAPI dependencies bound to one core: the current principal, role and scope checks, the
client."""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated parameters.
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from sessionjwt.client import ClientInfo, client_ip
from sessionjwt.errors import InsufficientRole, InsufficientScope
from sessionjwt.principal import Principal
from sessionjwt.web.cookies import CookieTransport
from sessionjwt.web.credentials import current_principal, request_token

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore


class Dependency:
    """FastAPI dependencies bound to one :class:`~sessionjwt.core.AuthCore`."""

    def __init__(self, auth: "AuthCore", cookies: CookieTransport) -> None:
        self._auth = auth
        self._cookies = cookies

        async def principal(request: Request) -> Principal:
            checked = current_principal(request)
            if checked is not None:  # the global guard already did the work
                return checked
            token = request_token(request, cookies, auth.settings.trusted_origins)
            return await auth.checker.timed_check(token)

        self.principal: Callable[[Request], Awaitable[Principal]] = principal

    def require_roles(self, *roles: str) -> Callable[..., Awaitable[Principal]]:
        required = tuple(roles)

        async def with_roles(
            principal: Annotated[Principal, Depends(self.principal)],
        ) -> Principal:
            if not principal.has_roles(*required):
                raise InsufficientRole()
            return principal

        return with_roles

    def require_scopes(self, *scopes: str) -> Callable[..., Awaitable[Principal]]:
        """The principal, if its credential holds every one of ``scopes``; else 403
        ``insufficient_scope`` with RFC 6750's ``WWW-Authenticate``. A session without scopes
        is full-access and passes; an API key passes only with the scopes it was given."""
        required = tuple(scopes)

        async def with_scopes(
            principal: Annotated[Principal, Depends(self.principal)],
        ) -> Principal:
            if not principal.has_scopes(*required):
                raise InsufficientScope(scopes=required)
            return principal

        return with_scopes

    def require_mfa(self) -> Callable[..., Awaitable[Principal]]:
        """The principal, if its session proved a second factor; else 403 ``mfa_required``."""

        async def with_mfa(
            principal: Annotated[Principal, Depends(self.principal)],
        ) -> Principal:
            await self._auth.factors.require_mfa(principal)
            return principal

        return with_mfa

    async def mfa_policy(self, principal: Principal) -> None:
        """``SESSIONJWT_MFA_REQUIRED_ROLES``: 403 ``mfa_required`` if the principal's roles need
        a second factor and its session did not prove one (the admin API and pages)."""
        if self._auth.factors.required_for(principal.roles):
            await self._auth.factors.require_mfa(principal)

    def require_admin(self) -> Callable[..., Awaitable[Principal]]:
        """The admin role (403 ``insufficient_role``), then the MFA policy (403
        ``mfa_required``)."""
        with_role = self.require_roles(self._auth.settings.admin_role)

        async def admin(principal: Annotated[Principal, Depends(with_role)]) -> Principal:
            await self.mfa_policy(principal)
            return principal

        return admin

    def client(self, request: Request) -> ClientInfo:
        peer = request.client.host if request.client else None
        ip = client_ip(
            peer, request.headers.get("x-forwarded-for"), self._auth.settings.trusted_proxies
        )
        return ClientInfo.build(
            ip, request.headers.get("user-agent"), self._cookies.known_device(request.scope)
        )
