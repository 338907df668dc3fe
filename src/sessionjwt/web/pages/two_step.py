"""Two-step sign-in on the Security page: set up an authenticator app (QR code, secret, the
first code), remove it, and make new recovery codes.

Every change needs a fresh proof (the password, or for an account that has a factor the
factor itself), checked before anything happens; without one the browser goes to /reauth
and comes back to the Security page. Recovery codes appear once, in the answer to the POST
that made them: no URL shows them again, and the pages are never cached.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from sessionjwt.accounts.factors.service import TotpEnrolment
from sessionjwt.errors import InvalidOneTimeCode, ReauthenticationRequired
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.pages.routing import Pages, reauth_url, see_other

SECURITY_PATH = "/security"
TOTP_PATH = SECURITY_PATH + "/totp"
RECOVERY_CODES_PATH = SECURITY_PATH + "/recovery-codes"
SETUP_TITLE = "Set up an authenticator app"
CODES_TITLE = "Your recovery codes"
# ``/security?two_step=<key>``: what the Security page says after a change.
TWO_STEP_NOTICES = {
    "totp_added": "Two-step sign-in is on: your next sign-in asks for a code from the app. "
    "Your other devices were signed out.",
    "totp_removed": "The authenticator app was removed. Your other devices were signed out.",
    "codes_replaced": "New recovery codes are ready; the old ones no longer work.",
}

Code = Annotated[str, Form(max_length=64)]
Csrf = Annotated[str, Form(max_length=128)]


def two_step_notice(key: str) -> str | None:
    return TWO_STEP_NOTICES.get(key)


def add_two_step_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    render = pages.renderer.page
    CurrentPrincipal = Annotated[Principal, Depends(web_of(auth).dependencies.principal)]

    def setup_page(
        request: Request,
        principal: Principal,
        enrolment: TotpEnrolment,
        *,
        status: int = 200,
        error: str | None = None,
    ) -> Response:
        return render(
            request,
            "totp_setup.html",
            title=SETUP_TITLE,
            status=status,
            principal=principal,
            error=error,
            enrolment=enrolment,
        )

    def codes_page(
        request: Request, principal: Principal, codes: list[str], notice_key: str
    ) -> Response:
        return render(
            request,
            "recovery_codes.html",
            title=CODES_TITLE,
            principal=principal,
            codes=codes,
            next=f"{SECURITY_PATH}?two_step={notice_key}",
        )

    async def pending_or_detour(
        request: Request, principal: Principal, *, status: int = 200, error: str | None = None
    ) -> Response:
        """The enrolment under way, shown again; the Security page if there is none."""
        try:
            enrolment = await auth.factors.pending_totp(principal)
        except ReauthenticationRequired:
            return see_other(reauth_url(TOTP_PATH))
        if enrolment is None:
            return see_other(SECURITY_PATH)
        return setup_page(request, principal, enrolment, status=status, error=error)

    @router.post(TOTP_PATH)
    async def begin_totp(
        request: Request, principal: CurrentPrincipal, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        if (detour := await pages.fresh_or_reauth(principal, SECURITY_PATH)) is not None:
            return detour
        await auth.factors.begin_totp(principal)
        return see_other(TOTP_PATH)  # a reload shows the same secret, never a new one

    @router.get(TOTP_PATH)
    async def totp_setup(request: Request, principal: CurrentPrincipal) -> Response:
        return await pending_or_detour(request, principal)

    @router.post(TOTP_PATH + "/confirm")
    async def confirm_totp(
        request: Request, principal: CurrentPrincipal, code: Code = "", csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        try:
            codes = await auth.factors.confirm_totp(principal, code, pages.client(request))
        except InvalidOneTimeCode as error:
            # Also a repeated POST after success: nothing is pending, so no codes again.
            return await pending_or_detour(request, principal, status=401, error=error.message)
        if codes:
            return codes_page(request, principal, codes, "totp_added")
        return see_other(SECURITY_PATH + "?two_step=totp_added")

    @router.post(TOTP_PATH + "/remove")
    async def remove_totp(
        request: Request, principal: CurrentPrincipal, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        if (detour := await pages.fresh_or_reauth(principal, SECURITY_PATH)) is not None:
            return detour
        await auth.factors.remove_totp(principal, pages.client(request))
        return see_other(SECURITY_PATH + "?two_step=totp_removed")

    @router.post(RECOVERY_CODES_PATH)
    async def regenerate_recovery_codes(
        request: Request, principal: CurrentPrincipal, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        if (detour := await pages.fresh_or_reauth(principal, SECURITY_PATH)) is not None:
            return detour
        codes = await auth.factors.regenerate_recovery_codes(principal, pages.client(request))
        return codes_page(request, principal, codes, "codes_replaced")
