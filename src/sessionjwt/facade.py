"""``SessionJWT``: the one object an application holds.

It is the core API (:class:`~sessionjwt.core.AuthCore`: sign-in → session → token → check →
revoke) plus its FastAPI faces: routers, ``protect(app)`` and the dependencies. The faces live
in :mod:`sessionjwt.web` and are imported only when asked for, so ``import sessionjwt`` needs
no web framework; this module sits above the web layer, which sits above the core.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, overload

from sessionjwt.core import AuthCore

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from sessionjwt.principal import Principal
    from sessionjwt.web.cookies import CookieTransport
    from sessionjwt.web.dependencies import Dependency


class SessionJWT(AuthCore):
    def router(self, **options: Any) -> APIRouter:
        """The ``/auth`` API (register, login, refresh, logout, sessions, passwords)."""
        from sessionjwt.web.routes import build_router

        return build_router(self, **options)

    def admin_router(self) -> APIRouter:
        """Key-ring operations for the admin role; include it under ``/admin``."""
        from sessionjwt.web.admin import build_admin_router

        return build_admin_router(self)

    def well_known_router(self) -> APIRouter:
        """``/.well-known/jwks.json`` and RFC 8414 metadata; include it at the app's root."""
        from sessionjwt.web.well_known import build_well_known_router

        return build_well_known_router(self)

    def oauth_router(self) -> APIRouter:
        """``POST /oauth/introspect`` (RFC 7662) and ``/oauth/revoke`` (RFC 7009); at the root."""
        from sessionjwt.web.oauth import build_oauth_router

        return build_oauth_router(self)

    def ops_router(self) -> APIRouter:
        """Public ``/readyz`` and (if ``metrics_enabled``) ``/metrics``; at the app's root."""
        from sessionjwt.web.ops import build_ops_router

        return build_ops_router(self)

    def pages_router(self) -> APIRouter:
        """The browser pages (sign-in, devices, security, /manage); at the app's root, with
        :func:`sessionjwt.web.pages.mount_static` for their stylesheet and script."""
        from sessionjwt.web.pages import build_pages_router

        return build_pages_router(self)

    def protect(self, app: FastAPI, **options: Any) -> None:
        """Install the default-deny guard and sessionjwt's error responses on ``app``."""
        from sessionjwt.web.routes import protect

        protect(app, self, **options)

    @property
    def cookies(self) -> CookieTransport:
        """The browser transport: set, read and clear the token cookies (docs/browser.md)."""
        from sessionjwt.web.binding import web_of

        return web_of(self).cookies

    @property
    def dependencies(self) -> Dependency:
        from sessionjwt.web.binding import web_of

        return web_of(self).dependencies

    @property
    def principal(self) -> Any:
        """FastAPI dependency: the current :class:`Principal` (``Depends(auth.principal)``)."""
        return self.dependencies.principal

    def require_roles(self, *roles: str) -> Any:
        """FastAPI dependency: the principal, if it has every one of ``roles``; else 403."""
        return self.dependencies.require_roles(*roles)

    def require_scopes(self, *scopes: str) -> Any:
        """FastAPI dependency: the principal, if its credential holds every one of ``scopes``
        (a session without scopes holds all); else 403 ``insufficient_scope``."""
        return self.dependencies.require_scopes(*scopes)

    @overload
    def require_mfa(self) -> Any: ...

    @overload
    def require_mfa(self, principal: Principal) -> Coroutine[Any, Any, None]: ...

    def require_mfa(self, principal: Principal | None = None) -> Any:
        """``Depends(auth.require_mfa())``: FastAPI dependency, the principal if its session
        proved a second factor, else 403 ``mfa_required``. With a principal it is the core's
        check: ``await auth.require_mfa(principal)``."""
        if principal is None:
            return self.dependencies.require_mfa()
        return super().require_mfa(principal)
