"""Security: change the password, and read the account's recent security events.

Changing the password asks for the current one, which is itself the fresh authentication,
and signs out every other device (ASVS 5 §6.2.3, §7.4.3): whoever knew the old password may
hold a session. The event list lets the user spot sign-ins that were not theirs.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from sessionjwt.audit.query import AuditFilter
from sessionjwt.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidVerificationToken,
    LastSignInMethod,
    RateLimited,
    WeakPassword,
)
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.pages.events import event_rows
from sessionjwt.web.pages.passkeys import passkey_notice, passkey_rows
from sessionjwt.web.pages.routing import Pages, see_other, too_many_attempts
from sessionjwt.web.pages.two_step import two_step_notice

SECURITY_PATH = "/security"
RECENT_EVENTS = 20
PASSWORD_CHANGED = "Password changed. Your other devices were signed out."  # noqa: S105
WRONG_CURRENT = "The current password is incorrect."
WRONG_PASSWORD = "The password is incorrect."  # noqa: S105 - a message
EMAIL_LINK_SENT = (
    "Check the new address's mail: the change happens when you open its link. A notice "
    "went to your current address."
)
DISCONNECTED = "The provider was disconnected. Your devices stay signed in."
EMAIL_CHANGED = "Email address changed. Your other devices were signed out."
EMAIL_LINK_INVALID = "This confirmation link is invalid, has expired or is for another account."

Password = Annotated[str, Form(max_length=4096)]
Csrf = Annotated[str, Form(max_length=128)]
Email = Annotated[str, Form(max_length=320)]
Token = Annotated[str, Form(max_length=256)]


def add_security_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    CurrentPrincipal = Annotated[Principal, Depends(web_of(auth).dependencies.principal)]

    async def security_page(
        request: Request,
        principal: Principal,
        *,
        status: int = 200,
        notice: str | None = None,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        page = await auth.audit_events(AuditFilter(user=principal.user_id, limit=RECENT_EVENTS))
        identities = await auth.providers.identities(principal.user_id) if auth.providers else []
        factors = await auth.factors.summary(principal.user_id)  # the two-step sign-in card
        return pages.renderer.page(
            request,
            "security.html",
            title="Security",
            status=status,
            principal=principal,
            notice=notice,
            error=error,
            headers=headers,
            events=event_rows(page.events),
            identities=identities,
            factors=factors,
            passkeys=await passkey_rows(pages, principal),  # the passkeys card
        )

    @router.get(SECURITY_PATH)
    async def security(
        request: Request,
        principal: CurrentPrincipal,
        changed: str = "",
        email_sent: str = "",
        email_changed: str = "",
        disconnected: str = "",
        last_method: str = "",
        two_step: str = "",
        passkey: str = "",
    ) -> Response:
        if last_method:
            return await security_page(
                request, principal, status=409, error=LastSignInMethod().message
            )
        if disconnected:
            return await security_page(request, principal, notice=DISCONNECTED)
        notice = (
            PASSWORD_CHANGED
            if changed
            else EMAIL_LINK_SENT
            if email_sent
            else EMAIL_CHANGED
            if email_changed
            else two_step_notice(two_step) or passkey_notice(passkey)
        )
        return await security_page(request, principal, notice=notice)

    @router.post(SECURITY_PATH + "/email")
    async def change_email(
        request: Request,
        principal: CurrentPrincipal,
        new_email: Email = "",
        email_password: Password = "",
        csrf_token: Csrf = "",
    ) -> Response:
        pages.check_form(request, csrf_token)
        try:
            await auth.change_email(principal, new_email, email_password, pages.client(request))
        except InvalidCredentials:
            return await security_page(request, principal, status=401, error=WRONG_PASSWORD)
        except InvalidEmail as error:
            return await security_page(request, principal, status=422, error=error.message)
        except RateLimited as error:
            return await security_page(
                request,
                principal,
                status=429,
                error=too_many_attempts(error),
                headers={"Retry-After": str(error.retry_after)},
            )
        return see_other(SECURITY_PATH + "?email_sent=1")

    @router.get(SECURITY_PATH + "/email/confirm")
    async def confirm_email_form(
        request: Request,
        principal: CurrentPrincipal,
        token: Annotated[str, Query(max_length=256)] = "",
    ) -> Response:
        return pages.renderer.page(
            request,
            "email_confirm.html",
            title="Confirm your new email address",
            principal=principal,
            token=token,
        )

    @router.post(SECURITY_PATH + "/email/confirm")
    async def confirm_email(
        request: Request, principal: CurrentPrincipal, token: Token = "", csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        try:
            await auth.confirm_email_change(principal, token, pages.client(request))
        except (InvalidVerificationToken, EmailTaken) as error:
            message = EMAIL_LINK_INVALID if error.status == 400 else error.message
            return pages.renderer.page(
                request,
                "email_confirm.html",
                title="Confirm your new email address",
                status=error.status,
                principal=principal,
                error=message,
                token="",
            )
        return see_other(SECURITY_PATH + "?email_changed=1")

    @router.post(SECURITY_PATH + "/password")
    async def change_password(
        request: Request,
        principal: CurrentPrincipal,
        current_password: Password = "",
        new_password: Password = "",
        csrf_token: Csrf = "",
    ) -> Response:
        pages.check_form(request, csrf_token)
        try:
            await auth.change_password(
                principal, current_password, new_password, pages.client(request)
            )
        except InvalidCredentials:
            return await security_page(request, principal, status=401, error=WRONG_CURRENT)
        except WeakPassword as error:
            return await security_page(request, principal, status=422, error=error.message)
        except RateLimited as error:
            return await security_page(
                request,
                principal,
                status=429,
                error=too_many_attempts(error),
                headers={"Retry-After": str(error.retry_after)},
            )
        return see_other(SECURITY_PATH + "?changed=1")
