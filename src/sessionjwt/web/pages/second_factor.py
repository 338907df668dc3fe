"""The sign-in page's second step: a code, a recovery code or a passkey, for a browser whose
password (or provider) was right on an account with a second factor.

The pending sign-in's ``mfa_token`` rides in an HttpOnly cookie (never a URL or the page),
set by the sign-in form or the provider callback. Wrong codes are counted on the pending
sign-in; once it is spent, or expired, the browser starts over at the sign-in page.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from sessionjwt.accounts.factors.service import CompletedSignIn, PendingSignIn
from sessionjwt.errors import (
    AccountDisabled,
    InvalidMfaToken,
    InvalidOneTimeCode,
    RateLimited,
)
from sessionjwt.web.cookies import safe_next
from sessionjwt.web.pages.routing import Pages, see_other, too_many_attempts
from sessionjwt.web.public import public

AFTER_SIGN_IN = "/devices"
TITLE = "Two-step sign-in"
EXPIRED = "expired"

Code = Annotated[str, Form(max_length=64)]
Csrf = Annotated[str, Form(max_length=128)]
Next = Annotated[str, Form(max_length=2048)]


def pending_response(pages: Pages, request: Request, pending: PendingSignIn, next: str) -> Response:
    """Send a browser with a fresh pending sign-in to the second step."""
    response = see_other(pages.cookies.second_factor_url(next))
    pages.cookies.set_pending(response, request, pending.mfa_token, pending.expires_in)
    return response


def add_second_factor_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    render = pages.renderer.page
    step_path = pages.cookies.second_factor_url()

    def start_over(request: Request, next: str) -> Response:
        response = see_other(f"{pages.cookies.sign_in_url(next)}")
        pages.cookies.clear_pending(response, request)
        return response

    async def show(
        request: Request,
        mfa_token: str,
        next: str,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> Response:
        _, user = await auth.factors.pending_user(mfa_token)
        summary = await auth.factors.summary(user.id)
        enrolment = None
        if not summary.any:  # the account's roles need a factor it does not have yet
            enrolment = await auth.factors.begin_sign_in_enrolment(mfa_token)
        return render(
            request,
            "second_factor.html",
            title=TITLE,
            status=status,
            error=error,
            methods=summary.methods,
            enrolment=enrolment,
            action=step_path,
            next=next,
            headers={
                "Cache-Control": "no-store",
                **({"Retry-After": str(retry_after)} if retry_after is not None else {}),
            },
        )

    @router.get(step_path)
    @public
    async def second_factor_form(
        request: Request, next: Annotated[str, Query(max_length=2048)] = ""
    ) -> Response:
        back = safe_next(next, AFTER_SIGN_IN)
        mfa_token = pages.cookies.pending_value(request.scope)
        if mfa_token is None:
            return start_over(request, back)
        try:
            return await show(request, mfa_token, back)
        except (InvalidMfaToken, AccountDisabled):
            return start_over(request, back)

    @router.post(step_path)
    @public
    async def second_factor(
        request: Request,
        code: Code = "",
        recovery_code: Code = "",
        csrf_token: Csrf = "",
        next: Next = "",
    ) -> Response:
        pages.check_form(request, csrf_token)
        back = safe_next(next, AFTER_SIGN_IN)
        mfa_token = pages.cookies.pending_value(request.scope)
        if mfa_token is None:
            return start_over(request, back)
        try:
            done = await auth.complete_sign_in(
                mfa_token,
                code=None if recovery_code else code,
                recovery_code=recovery_code or None,
                client=pages.client(request),
            )
        except InvalidOneTimeCode as error:
            try:
                return await show(request, mfa_token, back, 401, error.message)
            except (InvalidMfaToken, AccountDisabled):
                return start_over(request, back)  # that was the last attempt
        except RateLimited as error:
            return await show(
                request, mfa_token, back, 429, too_many_attempts(error), error.retry_after
            )
        except (InvalidMfaToken, AccountDisabled):
            return start_over(request, back)
        return signed_in(request, done, back)

    def signed_in(request: Request, done: CompletedSignIn, back: str) -> Response:
        if done.recovery_codes:  # shown once: this page is the only place they appear
            response: Response = render(
                request,
                "recovery_codes.html",
                title="Your recovery codes",
                codes=done.recovery_codes,
                next=back,
                headers={"Cache-Control": "no-store"},
            )
        else:
            response = see_other(back)
        pages.cookies.clear_pending(response, request)
        pages.cookies.set_tokens(response, done.tokens, request)
        return response
