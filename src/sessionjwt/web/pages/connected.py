"""Connected accounts on the Security page: connect another identity provider to the signed-in
account, or disconnect one — never the last way to sign in. Ends no session either way.

"Connect" is a form (a POST with its CSRF token), and the pages' CSP says ``form-action
'self'``, which browsers apply to every redirect a form submission follows: a 303 from the form
straight to the provider is blocked (Chromium stays on the Security page). So the form answers a
short page that sends the browser on with a refresh (a new navigation, not the form's), and a
link for the same. Allowing the provider's origin in ``form-action`` would not do: providers
redirect on to other origins of theirs (Microsoft's consumer accounts, for one)."""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from sessionjwt.errors import IdentityNotFound, LastSignInMethod, UnknownProvider
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.pages.routing import Pages, see_other

SECURITY_PATH = "/security"
Csrf = Annotated[str, Form(max_length=128)]


def add_connected_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    cookies = web_of(auth).cookies
    CurrentPrincipal = Annotated[Principal, Depends(web_of(auth).dependencies.principal)]

    @router.post(SECURITY_PATH + "/providers/{name}/link")
    async def connect(
        name: str, request: Request, principal: CurrentPrincipal, csrf_token: Csrf = ""
    ) -> Response:
        """Off to the provider; it comes back to the Security page with the identity linked."""
        pages.check_form(request, csrf_token)
        if auth.providers is None:
            raise UnknownProvider()
        started = await auth.providers.authorize(name, SECURITY_PATH, user_id=principal.user_id)
        title = next(p.title for p in auth.providers.configured() if p.name == name)
        response = pages.renderer.page(
            request,
            "provider_redirect.html",
            title=f"Connect {title}",
            principal=principal,
            authorize_url=started.url,
            provider_title=title,
        )
        cookies.set_flow(response, request, started.browser)
        return response

    @router.post(SECURITY_PATH + "/identities/{identity_id}/unlink")
    async def disconnect(
        identity_id: str, request: Request, principal: CurrentPrincipal, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        if auth.providers is None:
            raise IdentityNotFound()
        try:
            await auth.providers.unlink(principal.user_id, identity_id, pages.client(request))
        except LastSignInMethod:
            return see_other(SECURITY_PATH + "?last_method=1")
        return see_other(SECURITY_PATH + "?disconnected=1")
