"""The ``/auth`` routes of e-mail verification and e-mail change (included by
:func:`sessionjwt.web.routes.build_router`).

With ``email_verification`` on, ``POST /register`` answers 202 with one body whatever the
address; with it off, the 201/409 route of ``routes.py`` stays as it was.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the local Annotated aliases.
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, status

from sessionjwt.client import ClientInfo
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.guard import public
from sessionjwt.web.schemas import (
    EMAIL_CHANGE_ACCEPTED,
    RESEND_ACCEPTED,
    SIGNUP_ACCEPTED,
    AcceptedOut,
    EmailChangeConfirm,
    EmailChangeRequest,
    ErrorOut,
    RegisterRequest,
    ResendVerificationRequest,
    VerifyEmailRequest,
)

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

_INVALID_LINK: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "invalid_verification_token"}
}


def build_verification_router(auth: "AuthCore", *, registration: bool = True) -> APIRouter:
    deps = web_of(auth).dependencies
    router = APIRouter(tags=["auth"])
    CurrentPrincipal = Annotated[Principal, Depends(deps.principal)]
    Client = Annotated[ClientInfo, Depends(deps.client)]

    if registration and auth.email_verification.enabled:

        @router.post(
            "/register",
            status_code=status.HTTP_202_ACCEPTED,
            responses={422: {"model": ErrorOut}, 429: {"model": ErrorOut}},
        )
        @public
        async def register(body: RegisterRequest, client: Client) -> AcceptedOut:
            """Sign up: the same 202 for a new address (a verification link is mailed) and
            for one that has an account (a notice is mailed instead)."""
            await auth.sign_up(body.email, body.password, client)
            return AcceptedOut(message=SIGNUP_ACCEPTED)

    @router.post("/verify-email", status_code=status.HTTP_204_NO_CONTENT, responses=_INVALID_LINK)
    @public
    async def verify_email(body: VerifyEmailRequest, client: Client) -> None:
        await auth.verify_email(body.token, client)

    @router.post("/verify-email/resend", status_code=status.HTTP_202_ACCEPTED)
    @public
    async def resend_verification(body: ResendVerificationRequest, client: Client) -> AcceptedOut:
        await auth.resend_verification(body.email, client)
        return AcceptedOut(message=RESEND_ACCEPTED)

    @router.post(
        "/email",
        status_code=status.HTTP_202_ACCEPTED,
        responses={422: {"model": ErrorOut}, 429: {"model": ErrorOut}},
    )
    async def change_email(
        body: EmailChangeRequest, principal: CurrentPrincipal, client: Client
    ) -> AcceptedOut:
        """Ask to move the account to ``new_email``: the password again (401 if wrong), then
        a link to the new address and a notice to the current one."""
        await auth.change_email(principal, body.new_email, body.password, client)
        return AcceptedOut(message=EMAIL_CHANGE_ACCEPTED)

    @router.post(
        "/email/confirm",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={**_INVALID_LINK, 409: {"model": ErrorOut, "description": "email_taken"}},
    )
    async def confirm_email_change(
        body: EmailChangeConfirm, principal: CurrentPrincipal, client: Client
    ) -> None:
        """Use the link mailed to the new address, signed in as the user who asked: every
        other session of the user ends; this one stays."""
        await auth.confirm_email_change(principal, body.token, client)

    return router
