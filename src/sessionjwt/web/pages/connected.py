"""Connected accounts on the Security page: connect another identity provider to the signed-in
account, or disconnect one — never the last way to sign in. Ends no session either way."""

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
        response = see_other(started.url)
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
