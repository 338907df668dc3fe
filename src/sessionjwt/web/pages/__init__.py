"""The browser pages of the standalone service: sign-in, devices, security, admin.

``build_pages_router(auth)`` returns every page route; :func:`mount_static` serves the
stylesheet and the one script under ``/static/sessionjwt``. ``create_app`` includes both
when ``settings.pages_enabled``. The routes rely on the global guard for authentication
(cookie or bearer) and check CSRF themselves on every form post.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from sessionjwt.web.pages.account import add_account_routes
from sessionjwt.web.pages.admin import add_admin_routes
from sessionjwt.web.pages.api_keys import add_api_key_routes
from sessionjwt.web.pages.connected import add_connected_routes
from sessionjwt.web.pages.devices import add_device_routes
from sessionjwt.web.pages.headers import apply_security_headers
from sessionjwt.web.pages.passkeys import add_passkey_routes, build_passkey_script_router
from sessionjwt.web.pages.routing import Pages, page_route_class
from sessionjwt.web.pages.second_factor import add_second_factor_routes
from sessionjwt.web.pages.security import add_security_routes
from sessionjwt.web.pages.two_step import add_two_step_routes
from sessionjwt.web.pages.verification import add_verification_page_routes
from sessionjwt.web.public import public

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

__all__ = ["STATIC_PATH", "build_pages_router", "mount_static"]

STATIC_PATH = "/static/sessionjwt"
STATIC_DIRECTORY = Path(__file__).parent / "static"


def build_pages_router(auth: AuthCore) -> APIRouter:
    """Every page route, at the app's root (see the page contract for the URLs)."""
    pages = Pages(auth)
    router = APIRouter(route_class=page_route_class(pages), include_in_schema=False)
    add_account_routes(router, pages)
    add_second_factor_routes(router, pages)
    add_device_routes(router, pages)
    add_security_routes(router, pages)
    add_two_step_routes(router, pages)
    add_passkey_routes(router, pages)
    router.include_router(build_passkey_script_router(pages))  # JSON for passkeys.js
    add_connected_routes(router, pages)
    add_api_key_routes(router, pages)
    add_verification_page_routes(router, pages)
    add_admin_routes(router, pages)
    return router


class _StaticWithHeaders(StaticFiles):
    """The pages' static files, with the same security headers as the pages themselves."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                apply_security_headers(MutableHeaders(scope=message))
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def mount_static(app: FastAPI, path: str = STATIC_PATH) -> None:
    """Serve ``pages.css`` and the scripts; public, since the sign-in page needs them."""
    app.mount(path, public(_StaticWithHeaders(directory=STATIC_DIRECTORY)), name="sessionjwt")
