"""``/auth/providers`` and ``/auth/identities``: sign-in with an identity provider, linked
accounts, the provider's back-channel logout, and ID tokens from native apps.

Every sign-in here ends as a password sign-in does: a sessionjwt session, its cookies (or a
token pair for ``id-token``), audited, refreshable and revocable.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the local Annotated aliases.
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from sessionjwt.accounts.factors.service import PendingSignIn
from sessionjwt.client import ClientInfo
from sessionjwt.errors import InvalidIdToken, SessionJWTError, UnknownProvider
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.cookies import safe_next
from sessionjwt.web.guard import is_navigation
from sessionjwt.web.public import public
from sessionjwt.web.refusals import error_response
from sessionjwt.web.schemas import ErrorOut, MfaRequiredOut, TokenPairOut

if TYPE_CHECKING:  # the providers extra (httpx, Authlib) is needed only when configured
    from sessionjwt.accounts.providers.service import ProviderSignIn
    from sessionjwt.core import AuthCore
    from sessionjwt.web.pages.routing import Pages

MAX_LOGOUT_REQUEST_BYTES = 32 * 1024


class ProviderOut(BaseModel):
    name: str
    display_name: str


class AuthorizeOut(BaseModel):
    authorize_url: str


class IdentityOut(BaseModel):
    id: str
    provider: str
    email: str | None
    linked_at: str
    last_used_at: str | None


class IdTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_token: str = Field(min_length=1, max_length=16384)
    nonce: str = Field(min_length=16, max_length=256)


def build_providers_router(auth: "AuthCore") -> APIRouter:
    web = web_of(auth)
    deps, cookies = web.dependencies, web.cookies
    router = APIRouter(tags=["providers"])
    CurrentPrincipal = Annotated[Principal, Depends(deps.principal)]
    Client = Annotated[ClientInfo, Depends(deps.client)]
    after_sign_in = "/devices" if auth.settings.pages_enabled else "/"

    pages: list[Pages] = []

    def refusal_page(request: Request, error: SessionJWTError) -> Response | None:
        """A browser sent back by the provider gets a page it can read, with a way back to
        signing in; a script gets the JSON envelope. Same status, same code either way."""
        if not auth.settings.pages_enabled or not is_navigation(request.scope):
            return None
        if not pages:
            from sessionjwt.web.pages.routing import Pages

            pages.append(Pages(auth))
        response = pages[0].render_error(
            request, error.status, "Sign-in did not complete", error.message
        )
        response.headers["X-Error-Code"] = error.code
        return response

    def service() -> "ProviderSignIn":
        if auth.providers is None:
            raise UnknownProvider()
        return auth.providers

    @router.get("/providers")
    @public
    async def providers() -> list[ProviderOut]:
        configured = auth.providers.configured() if auth.providers is not None else []
        return [ProviderOut(name=p.name, display_name=p.title) for p in configured]

    @router.get(
        "/providers/{name}/authorize",
        status_code=status.HTTP_302_FOUND,
        responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    @public
    async def authorize(
        name: str,
        request: Request,
        return_to: Annotated[str | None, Query(max_length=512)] = None,
    ) -> Response:
        """302 to the provider; the callback comes back to this browser only."""
        started = await service().authorize(name, safe_next(return_to, after_sign_in))
        response = RedirectResponse(started.url, status_code=status.HTTP_302_FOUND)
        cookies.set_flow(response, request, started.browser)
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.post(
        "/providers/{name}/link",
        responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    async def link(
        name: str,
        request: Request,
        principal: CurrentPrincipal,
        return_to: Annotated[str | None, Query(max_length=512)] = None,
    ) -> AuthorizeOut:
        """Connect another provider to the signed-in account: send the browser to the URL."""
        started = await service().authorize(
            name, safe_next(return_to, "/security"), user_id=principal.user_id
        )
        response = JSONResponse({"authorize_url": started.url})
        cookies.set_flow(response, request, started.browser)
        response.headers["Cache-Control"] = "no-store"
        return response  # type: ignore[return-value]

    @router.get(
        "/providers/{name}/callback",
        status_code=status.HTTP_302_FOUND,
        responses={
            400: {"model": ErrorOut},
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
            404: {"model": ErrorOut},
            409: {"model": ErrorOut},
            503: {"model": ErrorOut},
        },
    )
    @public
    async def callback(name: str, request: Request, client: Client) -> Response:
        params = {key: value for key, value in request.query_params.items() if len(value) < 4096}
        try:
            completed = await service().callback(
                name, params, cookies.flow_value(request.scope), client
            )
        except SessionJWTError as error:
            refused = refusal_page(request, error) or error_response(error)
            cookies.clear_flow(refused, request)
            return refused
        if completed.pending is not None:  # the account's second factor is next
            response = RedirectResponse(
                cookies.second_factor_url(completed.return_to),
                status_code=status.HTTP_302_FOUND,
            )
            cookies.set_pending(
                response, request, completed.pending.mfa_token, completed.pending.expires_in
            )
        else:
            response = RedirectResponse(completed.return_to, status_code=status.HTTP_302_FOUND)
        cookies.clear_flow(response, request)
        if completed.tokens is not None:
            cookies.set_tokens(response, completed.tokens, request)
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.post(
        "/providers/{name}/id-token",
        responses={
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
            404: {"model": ErrorOut},
            409: {"model": ErrorOut},
            503: {"model": ErrorOut},
        },
    )
    @public
    async def id_token(
        name: str, body: IdTokenRequest, client: Client
    ) -> TokenPairOut | MfaRequiredOut:
        """A native or single-page app's own ID token for this provider → a token pair, or
        (an account with a second factor) the pending sign-in, as ``POST /auth/login``."""
        result = await service().exchange_id_token(name, body.id_token, body.nonce, client)
        if isinstance(result, PendingSignIn):
            return MfaRequiredOut.of(result)
        return TokenPairOut.of(result)

    @router.post(
        "/providers/{name}/backchannel-logout",
        responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    @public
    async def backchannel_logout(name: str, request: Request) -> Response:
        """OpenID Connect Back-Channel Logout 1.0: the provider ends the sessions it started."""
        body = await request.body()
        fields = parse_qs(body[:MAX_LOGOUT_REQUEST_BYTES].decode("ascii", "replace"))
        tokens = fields.get("logout_token", [])
        try:
            if len(body) > MAX_LOGOUT_REQUEST_BYTES or len(tokens) != 1:
                raise InvalidIdToken("Send exactly one logout_token.")
            await service().backchannel_logout(name, tokens[0])
        except InvalidIdToken as error:
            refused = error_response(error)
            refused.status_code = status.HTTP_400_BAD_REQUEST  # BCL 1.0 §2.8
            return refused
        return Response(status_code=status.HTTP_200_OK, headers={"Cache-Control": "no-store"})

    @router.get("/identities")
    async def identities(principal: CurrentPrincipal) -> list[IdentityOut]:
        if auth.providers is None:
            return []
        found = await auth.providers.identities(principal.user_id)
        return [
            IdentityOut(
                id=identity.id,
                provider=identity.provider,
                email=identity.email,
                linked_at=identity.linked_at.isoformat(),
                last_used_at=identity.last_used_at.isoformat() if identity.last_used_at else None,
            )
            for identity in found
        ]

    @router.delete(
        "/identities/{identity_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
    )
    async def unlink(identity_id: str, principal: CurrentPrincipal, client: Client) -> None:
        """Disconnect a provider; refused (409) if it is the account's last way in."""
        await service().unlink(principal.user_id, identity_id, client)

    return router
