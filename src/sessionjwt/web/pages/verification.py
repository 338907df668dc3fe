"""E-mail verification pages: "check your mail" after sign-up, the confirmation form the
mailed link opens, and the form to request a new link. All public; every POST passes both
CSRF layers. The e-mail change form is on the Security page (``security.py``).
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from sessionjwt.errors import EmailNotVerified, InvalidVerificationToken, RateLimited
from sessionjwt.web.pages.routing import Pages, see_other, too_many_attempts
from sessionjwt.web.public import public

SENT_PATH = "/verify-email/sent"
VERIFY_PATH = "/verify-email"
RESEND_PATH = "/verify-email/resend"
VERIFIED = "Email address confirmed. You can sign in now."
LINK_INVALID = "This confirmation link is invalid or has expired. Request a new one."
RESENT = "If this address has an account still to be confirmed, a new link is on its way to it."

Email = Annotated[str, Form(max_length=320)]
Token = Annotated[str, Form(max_length=256)]
Csrf = Annotated[str, Form(max_length=128)]


def unverified_sign_in(pages: Pages, request: Request, email: str) -> Response:
    """The answer to a right password for an unproven address: the resend form, 403."""
    return pages.renderer.page(
        request,
        "verify_resend.html",
        title="Confirm your email address",
        status=EmailNotVerified.status,
        error=EmailNotVerified.default_message,
        email=email,
    )


def add_verification_page_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    render = pages.renderer.page

    @router.get(SENT_PATH)
    @public
    async def sent(request: Request) -> Response:
        return render(request, "verify_sent.html", title="Check your mail")

    @router.get(VERIFY_PATH)
    @public
    async def verify_form(
        request: Request,
        token: Annotated[str, Query(max_length=256)] = "",
        done: str = "",
    ) -> Response:
        # The mailed link carries the token in the fragment (reset.js moves it into the form)
        # or, if so configured, in the query; either way only the POST uses it.
        return render(
            request,
            "verify_email.html",
            title="Confirm your email address",
            notice=VERIFIED if done else None,
            token=token,
            done=bool(done),
        )

    @router.post(VERIFY_PATH)
    @public
    async def verify(request: Request, token: Token = "", csrf_token: Csrf = "") -> Response:
        pages.check_form(request, csrf_token)
        try:
            await auth.verify_email(token, pages.client(request))
        except InvalidVerificationToken:
            return render(
                request,
                "verify_email.html",
                title="Confirm your email address",
                status=400,
                error=LINK_INVALID,
                token="",
                done=False,
            )
        return see_other(VERIFY_PATH + "?done=1")

    @router.get(RESEND_PATH)
    @public
    async def resend_form(request: Request, sent: str = "") -> Response:
        return render(
            request,
            "verify_resend.html",
            title="Request a new link",
            notice=RESENT if sent else None,
            email="",
        )

    @router.post(RESEND_PATH)
    @public
    async def resend(request: Request, email: Email = "", csrf_token: Csrf = "") -> Response:
        pages.check_form(request, csrf_token)
        try:
            await auth.resend_verification(email, pages.client(request))
        except RateLimited as error:
            return render(
                request,
                "verify_resend.html",
                title="Request a new link",
                status=429,
                error=too_many_attempts(error),
                email=email,
                headers={"Retry-After": str(error.retry_after)},
            )
        return see_other(RESEND_PATH + "?sent=1")
