"""FastAPI face of second factors: the sign-in's second step, and managing one's factors.

``POST /auth/login`` answers a pending sign-in for an account with a second factor; the
routes here complete it (``/login/mfa``), enrol an authenticator app, regenerate recovery
codes and remove a factor. Codes and their meaning: docs/mfa.md.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the local Annotated aliases.
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from sessionjwt.client import ClientInfo
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.public import public
from sessionjwt.web.schemas import (
    ErrorOut,
    FactorsOut,
    MfaCompleteRequest,
    MfaSignedInOut,
    MfaTokenRequest,
    RecoveryCodesOut,
    TokenPairOut,
    TotpConfirmRequest,
    TotpEnrolmentOut,
)

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

_FRESH: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorOut, "description": "reauthentication_required: prove a factor first"}
}


def build_factors_router(auth: "AuthCore") -> APIRouter:
    deps = web_of(auth).dependencies
    router = APIRouter(tags=["second factors"])
    CurrentPrincipal = Annotated[Principal, Depends(deps.principal)]
    Client = Annotated[ClientInfo, Depends(deps.client)]
    factors = auth.factors

    @router.post("/login/mfa", responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}})
    @public
    async def complete_sign_in(
        body: MfaCompleteRequest, client: Client, response: Response
    ) -> MfaSignedInOut:
        """The second step: the pending sign-in's ``mfa_token`` and a TOTP code or a recovery
        code → the token pair. 401 ``invalid_code`` (counted: the sign-in is spent after
        ``mfa_max_attempts``), 401 ``invalid_mfa_token``, 429 ``rate_limited``."""
        response.headers["Cache-Control"] = "no-store"
        done = await auth.complete_sign_in(
            body.mfa_token, code=body.code, recovery_code=body.recovery_code, client=client
        )
        return MfaSignedInOut(
            **TokenPairOut.of(done.tokens).model_dump(), recovery_codes=done.recovery_codes
        )

    @router.post("/login/mfa/totp", responses={401: {"model": ErrorOut}, 409: {"model": ErrorOut}})
    @public
    async def enrol_at_sign_in(body: MfaTokenRequest, response: Response) -> TotpEnrolmentOut:
        """For a pending sign-in with ``enrolment_required``: an authenticator secret; the
        first code from it, sent to ``/login/mfa``, confirms it and completes the sign-in."""
        response.headers["Cache-Control"] = "no-store"
        return TotpEnrolmentOut.of(await factors.begin_sign_in_enrolment(body.mfa_token))

    @router.get("/mfa")
    async def list_factors(principal: CurrentPrincipal) -> FactorsOut:
        """What the signed-in user has set up (never a secret)."""
        summary = await factors.summary(principal.user_id)
        mfa_session = await factors.is_mfa_session(principal)
        return FactorsOut(
            totp=summary.totp,
            passkeys=summary.passkeys,
            recovery_codes_left=summary.recovery_codes_left,
            methods=summary.methods,
            mfa_session=mfa_session,
        )

    @router.post("/mfa/totp", responses={**_FRESH, 409: {"model": ErrorOut}})
    async def begin_totp(principal: CurrentPrincipal, response: Response) -> TotpEnrolmentOut:
        """Start setting up an authenticator app: its secret, ``otpauth://`` URI and QR code
        (SVG). It counts once ``/mfa/totp/confirm`` has seen a first code."""
        response.headers["Cache-Control"] = "no-store"
        return TotpEnrolmentOut.of(await factors.begin_totp(principal))

    @router.post("/mfa/totp/confirm", responses={401: {"model": ErrorOut}})
    async def confirm_totp(
        body: TotpConfirmRequest, principal: CurrentPrincipal, client: Client, response: Response
    ) -> RecoveryCodesOut:
        """The first code: the app now counts, the session becomes a second-factor session,
        every other session of the user ends, and — if the user had none — ten recovery codes
        come back, once."""
        response.headers["Cache-Control"] = "no-store"
        return RecoveryCodesOut(
            recovery_codes=await factors.confirm_totp(principal, body.code, client)
        )

    @router.delete(
        "/mfa/totp",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={**_FRESH, 404: {"model": ErrorOut}},
    )
    async def remove_totp(principal: CurrentPrincipal, client: Client) -> None:
        await factors.remove_totp(principal, client)

    @router.post("/mfa/recovery-codes", responses={**_FRESH, 404: {"model": ErrorOut}})
    async def regenerate_recovery_codes(
        principal: CurrentPrincipal, client: Client, response: Response
    ) -> RecoveryCodesOut:
        """Ten new recovery codes, shown once; the old ones stop working."""
        response.headers["Cache-Control"] = "no-store"
        return RecoveryCodesOut(
            recovery_codes=await factors.regenerate_recovery_codes(principal, client)
        )

    return router
