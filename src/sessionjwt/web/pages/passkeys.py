"""Passkeys on the pages: "Sign in with a passkey", the passkey at the sign-in's second step,
and the Passkeys card of the Security page (add, rename, remove).

The WebAuthn ceremony runs in ``static/passkeys.js`` (the CSP allows no inline script). It
calls the JSON API where a session cookie is all it needs (adding a passkey, step-up, the
passwordless options), and the JSON routes here where the answer is cookies: the two
sign-ins, which set the session cookies, and the second step, whose ``mfa_token`` is in an
HttpOnly cookie the script cannot read. Those routes check both CSRF layers like every form
(Fetch-Metadata/Origin, and the form token sent back in ``X-CSRF-Token``), and answer
``{"next": path}`` or the usual error envelope — never a page, since a script reads them.

Renaming and removing are plain forms; removing needs a fresh proof (a detour to /reauth).
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from sessionjwt.errors import FactorNotFound
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.cookies import safe_next
from sessionjwt.web.pages.routing import Pages, see_other
from sessionjwt.web.public import public

if TYPE_CHECKING:
    from sessionjwt.accounts.factors.passkey_service import Ceremony, PasskeyInfo, Passkeys

AFTER_SIGN_IN = "/devices"
SECURITY_PATH = "/security"
SIGN_IN_PATH = "/signin/passkey"
CSRF_HEADER = "x-csrf-token"
# ``/security?passkey=<key>``: what the Security page says after a change.
PASSKEY_NOTICES = {
    "added": "Passkey added. You can now sign in with it alone. Your other devices were "
    "signed out.",
    "renamed": "Passkey renamed.",
    "removed": "Passkey removed. Your other devices were signed out.",
}

Csrf = Annotated[str, Form(max_length=128)]
Name = Annotated[str, Form(max_length=200)]


def passkey_notice(key: str) -> str | None:
    return PASSKEY_NOTICES.get(key)


async def passkey_rows(pages: Pages, principal: Principal) -> "list[PasskeyInfo] | None":
    """The Security page's passkeys; None when passkeys are unavailable (no mfa extra)."""
    if pages.auth.passkeys is None:
        return None
    return await pages.auth.passkeys.for_user(principal.user_id)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInBody(_Body):
    challenge_token: str = Field(min_length=1, max_length=128)
    credential: dict[str, Any]
    next: str = Field(default="", max_length=2048)


class SecondStepBody(_Body):
    credential: dict[str, Any]
    next: str = Field(default="", max_length=2048)


def _ceremony(ceremony: "Ceremony") -> JSONResponse:
    return JSONResponse(
        {
            "challenge_token": ceremony.challenge_token,
            "expires_in": ceremony.expires_in,
            "options": ceremony.options,
        },
        headers={"Cache-Control": "no-store"},
    )


def add_passkey_routes(router: APIRouter, pages: Pages) -> None:
    """The Security page's rename and remove forms (pages: refusals render as pages)."""
    auth = pages.auth
    CurrentPrincipal = Annotated[Principal, Depends(web_of(auth).dependencies.principal)]
    # The passkey buttons of the sign-in, second-step and /reauth pages.
    pages.renderer.environment.globals["passkeys_enabled"] = auth.passkeys is not None

    def service() -> "Passkeys":
        if auth.passkeys is None:
            raise FactorNotFound("Passkeys are not available on this service.")
        return auth.passkeys

    @router.post(SECURITY_PATH + "/passkeys/{passkey_id}/rename")
    async def rename_passkey(
        request: Request,
        principal: CurrentPrincipal,
        passkey_id: str,
        name: Name = "",
        csrf_token: Csrf = "",
    ) -> Response:
        pages.check_form(request, csrf_token)
        await service().rename(principal, passkey_id[:64], name)
        return see_other(SECURITY_PATH + "?passkey=renamed")

    @router.post(SECURITY_PATH + "/passkeys/{passkey_id}/remove")
    async def remove_passkey(
        request: Request, principal: CurrentPrincipal, passkey_id: str, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        if (detour := await pages.fresh_or_reauth(principal, SECURITY_PATH)) is not None:
            return detour
        await service().remove(principal, passkey_id[:64], pages.client(request))
        return see_other(SECURITY_PATH + "?passkey=removed")


def build_passkey_script_router(pages: Pages) -> APIRouter:
    """The JSON routes ``passkeys.js`` calls to sign in (plain routes: errors stay JSON)."""
    auth = pages.auth
    cookies = pages.cookies
    router = APIRouter(include_in_schema=False)
    passkeys = auth.passkeys
    if passkeys is None:
        return router
    second_step = cookies.second_factor_url() + "/passkey"

    def check_csrf(request: Request) -> None:
        pages.check_form(request, request.headers.get(CSRF_HEADER, ""))

    def signed_in(request: Request, tokens: Any, next: str) -> Response:
        response = JSONResponse(
            {"next": safe_next(next, AFTER_SIGN_IN)}, headers={"Cache-Control": "no-store"}
        )
        cookies.clear_pending(response, request)
        cookies.set_tokens(response, tokens, request)
        return response

    @router.post(SIGN_IN_PATH)
    @public
    async def sign_in_with_passkey(request: Request, body: SignInBody) -> Response:
        """The passwordless sign-in's answer (its options come from the API) → cookies."""
        check_csrf(request)
        tokens = await passkeys.sign_in(
            body.challenge_token, body.credential, pages.client(request)
        )
        return signed_in(request, tokens, body.next)

    @router.post(second_step + "/options")
    @public
    async def second_step_options(request: Request) -> Response:
        """Options for the pending sign-in in this browser's cookie."""
        check_csrf(request)
        mfa_token = cookies.pending_value(request.scope) or ""
        return _ceremony(await passkeys.second_factor_options(mfa_token))

    @router.post(second_step)
    @public
    async def second_step_with_passkey(request: Request, body: SecondStepBody) -> Response:
        check_csrf(request)
        mfa_token = cookies.pending_value(request.scope) or ""
        tokens = await passkeys.complete_sign_in(mfa_token, body.credential, pages.client(request))
        return signed_in(request, tokens, body.next)

    return router
