"""Account pages: sign up, sign in, sign out, confirm password, password reset.

Everything here but ``/reauth`` is public: these are the pages a browser without a session
needs. Every POST passes both CSRF layers before it touches an account (sign-in included:
login CSRF would sign the victim into the attacker's account).
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from sessionjwt.accounts.factors.service import PendingSignIn
from sessionjwt.errors import (
    AuthenticationError,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidOneTimeCode,
    InvalidResetToken,
    RateLimited,
    WeakPassword,
)
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.cookies import safe_next
from sessionjwt.web.credentials import bearer_token
from sessionjwt.web.pages.routing import Pages, see_other, too_many_attempts
from sessionjwt.web.pages.second_factor import pending_response
from sessionjwt.web.pages.verification import SENT_PATH, unverified_sign_in
from sessionjwt.web.public import public

AFTER_SIGN_IN = "/devices"
AFTER_REAUTH = "/security"
REAUTH_TITLE = "Confirm your password"
REAUTH_FACTOR_TITLE = "Confirm it is you"
WRONG_CREDENTIALS = "The email or password is incorrect."
RESET_SENT = "If an account exists for this address, a password-reset link is on its way to it."
RESET_INVALID = "This reset link is invalid or has expired."
SIGN_IN_NOTICES = {
    "registered": "Account created. Sign in to continue.",
    "signed_out": "You are signed out.",
    "reset": "Password changed. Sign in with your new password.",
}

# Generous limits: the service applies the real policy; these only bound the parsing.
Email = Annotated[str, Form(max_length=320)]
Password = Annotated[str, Form(max_length=4096)]
Token = Annotated[str, Form(max_length=256)]
Code = Annotated[str, Form(max_length=64)]
Csrf = Annotated[str, Form(max_length=128)]
Next = Annotated[str, Form(max_length=2048)]


def add_account_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    render = pages.renderer.page
    CurrentPrincipal = Annotated[Principal, Depends(web_of(auth).dependencies.principal)]

    @router.get("/")
    @public
    async def root() -> Response:
        return see_other(AFTER_SIGN_IN)

    # -- sign up -----------------------------------------------------------------------------

    @router.get("/signup")
    @public
    async def signup_form(request: Request) -> Response:
        return render(request, "signup.html", title="Create an account", email="")

    @router.post("/signup")
    @public
    async def signup(
        request: Request, email: Email = "", password: Password = "", csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        verifying = auth.email_verification.enabled  # one answer whatever the address
        try:
            if verifying:
                await auth.sign_up(email, password, pages.client(request))
            else:
                await auth.register(email, password, client=pages.client(request))
        except (EmailTaken, InvalidEmail, WeakPassword) as error:
            return render(
                request,
                "signup.html",
                title="Create an account",
                status=error.status,
                error=error.message,
                email=email,
            )
        except RateLimited as error:
            return render(
                request,
                "signup.html",
                title="Create an account",
                status=429,
                error=too_many_attempts(error),
                email=email,
                headers={"Retry-After": str(error.retry_after)},
            )
        return see_other(SENT_PATH if verifying else "/signin?registered=1")

    # -- sign in -----------------------------------------------------------------------------

    @router.get("/signin")
    @public
    async def signin_form(
        request: Request,
        next: Annotated[str, Query(max_length=2048)] = "",
        registered: str = "",
        signed_out: str = "",
        reset: str = "",
    ) -> Response:
        flags = {"registered": registered, "signed_out": signed_out, "reset": reset}
        notice = None
        for key, value in flags.items():
            if value:
                notice = SIGN_IN_NOTICES[key]
        return render(
            request, "signin.html", title="Sign in", notice=notice, email="", next=safe_next(next)
        )

    @router.post("/signin")
    @public
    async def signin(
        request: Request,
        email: Email = "",
        password: Password = "",
        csrf_token: Csrf = "",
        next: Next = "",
    ) -> Response:
        pages.check_form(request, csrf_token)
        client = pages.client(request)

        def again(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
            return render(
                request,
                "signin.html",
                title="Sign in",
                status=status,
                error=message,
                email=email,
                next=safe_next(next),
                headers=headers,
            )

        try:
            result = await auth.sign_in(email, password, client)
        except InvalidCredentials:
            return again(401, WRONG_CREDENTIALS)
        except EmailNotVerified:  # the password was right: offer a new link
            return unverified_sign_in(pages, request, email)
        except AuthenticationError as error:  # (a disabled account is InvalidCredentials)
            return again(error.status, error.message)
        except RateLimited as error:
            return again(429, too_many_attempts(error), {"Retry-After": str(error.retry_after)})
        await end_browser_session(request)  # signing in again replaces, never orphans
        if isinstance(result, PendingSignIn):  # the second factor is next
            response = pending_response(pages, request, result, safe_next(next, AFTER_SIGN_IN))
        else:
            response = see_other(safe_next(next, AFTER_SIGN_IN))
            pages.cookies.set_tokens(response, result, request)
        pages.cookies.set_known_device(response, request, result.known_device)
        return response

    # -- sign out ----------------------------------------------------------------------------

    async def end_browser_session(request: Request) -> None:
        """Log out the session this browser's access cookie (or bearer) points to, if live."""
        token = pages.cookies.access_token(request.scope)
        if token is None and request.headers.get("authorization"):
            try:
                token = bearer_token(request)
            except AuthenticationError:
                token = None
        if token is None:
            return
        try:
            principal = await auth.check(token)
        except AuthenticationError:
            return  # already ended: only the cookies remain to clear
        await auth.logout(principal, pages.client(request))

    @router.post("/signout")
    @public  # an already-ended session must still be able to clear its cookies
    async def signout(request: Request, csrf_token: Csrf = "") -> Response:
        pages.check_form(request, csrf_token)
        await end_browser_session(request)
        response = see_other("/signin?signed_out=1")
        pages.cookies.clear(response, request)
        return response

    # -- confirm password (fresh authentication) ---------------------------------------------
    # An account with a second factor proves that instead: for it, a fresh password does
    # not count (require_fresh_auth), so asking for one would only send the browser back.

    async def reauth_page(
        request: Request,
        principal: Principal,
        back_to: str,
        *,
        status: int = 200,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        factors = await auth.factors.summary(principal.user_id)
        return render(
            request,
            "reauth.html",
            title=REAUTH_FACTOR_TITLE if factors.any else REAUTH_TITLE,
            status=status,
            principal=principal,
            error=error,
            headers=headers,
            next=back_to,
            second_factor=factors.any,
            methods=factors.methods,
        )

    @router.get("/reauth")
    async def reauth_form(
        request: Request,
        principal: CurrentPrincipal,
        next: Annotated[str, Query(max_length=2048)] = "",
    ) -> Response:
        return await reauth_page(request, principal, safe_next(next, AFTER_REAUTH))

    @router.post("/reauth")
    async def reauth(
        request: Request,
        principal: CurrentPrincipal,
        password: Password = "",
        code: Code = "",
        recovery_code: Code = "",
        csrf_token: Csrf = "",
        next: Next = "",
    ) -> Response:
        pages.check_form(request, csrf_token)
        back_to = safe_next(next, AFTER_REAUTH)
        client = pages.client(request)
        try:
            if (await auth.factors.summary(principal.user_id)).any:
                await auth.step_up(
                    principal,
                    code=None if recovery_code else code,
                    recovery_code=recovery_code or None,
                    client=client,
                )
            else:
                await auth.reauthenticate(principal, password, client)
        except (InvalidCredentials, InvalidOneTimeCode) as error:
            return await reauth_page(request, principal, back_to, status=401, error=error.message)
        except RateLimited as error:
            return await reauth_page(
                request,
                principal,
                back_to,
                status=429,
                error=too_many_attempts(error),
                headers={"Retry-After": str(error.retry_after)},
            )
        return see_other(back_to)

    # -- password reset ----------------------------------------------------------------------

    @router.get("/password-reset")
    @public
    async def reset_request_form(request: Request, sent: str = "") -> Response:
        return render(
            request,
            "reset_request.html",
            title="Reset your password",
            notice=RESET_SENT if sent else None,
        )

    @router.post("/password-reset")
    @public
    async def reset_request(request: Request, email: Email = "", csrf_token: Csrf = "") -> Response:
        pages.check_form(request, csrf_token)
        try:
            await auth.request_password_reset(email, pages.client(request))
        except RateLimited as error:
            return render(
                request,
                "reset_request.html",
                title="Reset your password",
                status=429,
                error=too_many_attempts(error),
                headers={"Retry-After": str(error.retry_after)},
            )
        return see_other("/password-reset?sent=1")

    @router.get("/password-reset/confirm")
    @public
    async def reset_confirm_form(request: Request) -> Response:
        # The token arrives in the fragment, which never reaches the server: reset.js moves it
        # into the form, so it stays out of access logs and Referer headers.
        return render(request, "reset_confirm.html", title="Choose a new password", token="")

    @router.post("/password-reset/confirm")
    @public
    async def reset_confirm(
        request: Request, token: Token = "", new_password: Password = "", csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)

        def again(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
            return render(
                request,
                "reset_confirm.html",
                title="Choose a new password",
                status=status,
                error=message,
                token=token if status != 400 else "",
                headers=headers,
            )

        try:
            await auth.confirm_password_reset(token, new_password, pages.client(request))
        except InvalidResetToken:
            return again(400, RESET_INVALID)
        except WeakPassword as error:
            return again(error.status, error.message)
        except RateLimited as error:
            return again(429, too_many_attempts(error), {"Retry-After": str(error.retry_after)})
        response = see_other("/signin?reset=1")
        pages.cookies.clear(response, request)  # the reset ended this browser's session too
        return response
