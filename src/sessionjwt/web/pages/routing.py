"""What every page handler shares: the route class that renders refusals as pages, the form
check, client info and redirects.

A refusal on a page must be a page (with the security headers), not the JSON body the API
answers with; and it must never perform the action. Handlers catch the errors they have a
specific answer for; :class:`PageRoute` turns every other :class:`SessionJWTError` into an
error page with that error's status and public message, and puts the security headers on
every response.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from sessionjwt.client import ClientInfo
from sessionjwt.errors import (
    AuthenticationError,
    CsrfRefused,
    RateLimited,
    ReauthenticationRequired,
    SessionJWTError,
)
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.cookies import path_with_query, safe_next
from sessionjwt.web.csrf import check_form
from sessionjwt.web.pages.headers import apply_security_headers
from sessionjwt.web.pages.rendering import Renderer

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

REAUTH_PATH = "/reauth"
INCOMPLETE_FORM = "The form was incomplete or a field was too long. Go back and try again."


def too_many_attempts(error: RateLimited) -> str:
    return f"Too many attempts. Try again in {error.retry_after} seconds."


def see_other(url: str) -> RedirectResponse:
    """303 after every POST, so a reload never repeats the action."""
    return RedirectResponse(url, status_code=303)


class Pages:
    """The service, the renderer and the checks the page modules use."""

    def __init__(self, auth: AuthCore) -> None:
        self.auth = auth
        self.cookies = web_of(auth).cookies
        self.renderer = Renderer(web_of(auth).cookies, auth.settings.admin_role)
        configured = auth.providers.configured() if auth.providers is not None else []
        # The "Sign in with ..." buttons of the sign-in and sign-up pages.
        self.renderer.environment.globals["providers"] = [
            {"name": provider.name, "title": provider.title} for provider in configured
        ]

    def check_form(self, request: Request, submitted: str) -> None:
        """Both CSRF layers; raises :class:`CsrfRefused` (a 403 page) before any action."""
        check_form(request, submitted or None, self.cookies, self.auth.settings.trusted_origins)

    def client(self, request: Request) -> ClientInfo:
        return web_of(self.auth).dependencies.client(request)

    async def fresh_or_reauth(self, principal: Principal, back_to: str) -> Response | None:
        """None if the session proved the password recently; else the way to /reauth."""
        try:
            await self.auth.require_fresh_auth(principal)
        except ReauthenticationRequired:
            return see_other(reauth_url(back_to))
        return None

    def error_page(self, request: Request, error: SessionJWTError) -> Response:
        """A refusal the handler did not answer itself, as a page."""
        if isinstance(error, AuthenticationError):
            # The guard normally sends such browsers to sign in first; if the session ended
            # between the guard and the handler, do the same here.
            response: Response = see_other(self.cookies.sign_in_url(path_with_query(request.scope)))
            self.cookies.clear(response, request)
            return response
        headers: dict[str, str] = {}
        message = error.message
        title = "Something went wrong"
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(error.retry_after)
            message = too_many_attempts(error)
            title = "Too many attempts"
        elif isinstance(error, CsrfRefused):
            title = "Request refused"
        elif error.status == 503:
            headers["Retry-After"] = "1"
        principal = getattr(error, "principal", None)  # e.g. a 403 that keeps the nav
        links = getattr(error, "links", ())  # (href, text): where to go to fix it
        return self.render_error(
            request,
            error.status,
            title,
            message,
            principal=principal if isinstance(principal, Principal) else None,
            headers=headers,
            links=links,
        )

    def render_error(
        self,
        request: Request,
        status: int,
        title: str,
        message: str,
        *,
        principal: Principal | None = None,
        headers: dict[str, str] | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> Response:
        return self.renderer.page(
            request,
            "error.html",
            title=title,
            status=status,
            principal=principal,
            error=message,
            headers=headers,
            links=list(links),
        )


def reauth_url(back_to: str) -> str:
    return f"{REAUTH_PATH}?next={quote(safe_next(back_to), safe='/')}"


def page_route_class(pages: Pages) -> type[APIRoute]:
    """An :class:`APIRoute` whose refusals are pages and whose responses carry the headers."""

    class PageRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def page_handler(request: Request) -> Response:
                response: Response
                try:
                    response = await handler(request)
                except SessionJWTError as error:
                    response = pages.error_page(request, error)
                except RequestValidationError:
                    response = pages.render_error(request, 422, "Incomplete form", INCOMPLETE_FORM)
                apply_security_headers(response.headers)
                return response

            return page_handler

    return PageRoute
