"""FastAPI face: the ``/auth`` router factory, its error handlers, and ``protect(app)``.

Mounting takes five lines::

    auth = SessionJWT()
    app = FastAPI(lifespan=auth.lifespan)
    app.include_router(auth.router(), prefix="/auth")
    auth.protect(app)                       # default-deny; @public opens a route
    # def handler(user: Principal = Depends(web_of(auth).dependencies.principal)) ...
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the local Annotated aliases.
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from sessionjwt.accounts.factors.service import PendingSignIn
from sessionjwt.client import ClientInfo
from sessionjwt.errors import (
    AuthenticationError,
    MissingToken,
    SessionJWTError,
)
from sessionjwt.principal import Principal
from sessionjwt.sessions.revoke import RevokeReason
from sessionjwt.web.api_keys import build_api_keys_router
from sessionjwt.web.binding import web_of
from sessionjwt.web.cookies import safe_next
from sessionjwt.web.csrf import check_same_origin
from sessionjwt.web.errors import install_http_error_handlers
from sessionjwt.web.factors import build_factors_router
from sessionjwt.web.guard import GuardMiddleware, PublicRoutes, public
from sessionjwt.web.passkeys import build_passkeys_router
from sessionjwt.web.providers import build_providers_router
from sessionjwt.web.refusals import error_response
from sessionjwt.web.schemas import (
    RESET_ACCEPTED,
    AcceptedOut,
    ErrorOut,
    LoginRequest,
    MeOut,
    MfaRequiredOut,
    PasswordChangeRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    ReauthenticateRequest,
    RefreshRequest,
    RegisterRequest,
    SessionOut,
    TokenPairOut,
    UserOut,
    moment,
)
from sessionjwt.web.scopes import account_gate, keys_allowed
from sessionjwt.web.verification import build_verification_router

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

# -- the router -----------------------------------------------------------------------------

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Not authenticated (see `error` for why)."},
    429: {"model": ErrorOut, "description": "Rate limited; see Retry-After."},
    503: {"model": ErrorOut, "description": "Session store unavailable; retry."},
}


def build_router(auth: "AuthCore", *, registration: bool = True) -> APIRouter:
    deps = web_of(auth).dependencies
    # Restricted credentials (API keys) reach account management only with a scope for it.
    router = APIRouter(
        tags=["auth"], responses=_ERRORS, dependencies=[Depends(account_gate(deps.principal))]
    )
    CurrentPrincipal = Annotated[Principal, Depends(deps.principal)]
    Client = Annotated[ClientInfo, Depends(deps.client)]

    if registration and not auth.email_verification.enabled:  # else 202: web/verification.py

        @router.post(
            "/register",
            status_code=status.HTTP_201_CREATED,
            responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
        )
        @public
        async def register(body: RegisterRequest, client: Client) -> UserOut:
            user = await auth.register(body.email, body.password, client=client)
            return UserOut(id=user.id, email=user.email)

    @router.post(
        "/login",
        responses={
            400: {"model": ErrorOut, "description": "`invalid_scope`: a malformed `scope`."},
            403: {"model": ErrorOut},
        },
    )
    @public
    async def login(
        body: LoginRequest, client: Client, request: Request, response: Response
    ) -> TokenPairOut | MfaRequiredOut:
        """The password → a token pair; or, for an account with a second factor, 200
        ``{"mfa_required": true, "mfa_token", "methods"}`` and no session (docs/mfa.md).
        A wrong password, an unknown email and a disabled account get the same 401
        ``invalid_credentials``. Either 200 sets the known-device cookie, which keeps this
        client's sign-ins clear of the per-account ceiling of a distributed attack."""
        response.headers["Cache-Control"] = "no-store"
        result = await auth.sign_in(body.email, body.password, client, scope=body.scope)
        web_of(auth).cookies.set_known_device(response, request, result.known_device)
        if isinstance(result, PendingSignIn):
            return MfaRequiredOut.of(result)
        return TokenPairOut.of(result)

    router.include_router(build_factors_router(auth))
    router.include_router(build_passkeys_router(auth))
    router.include_router(build_api_keys_router(auth))

    @router.post(
        "/refresh",
        response_model=TokenPairOut,
        responses={204: {"description": "Browser: the refresh cookie was rotated in place."}},
    )
    @public
    async def refresh(
        request: Request, client: Client, response: Response, body: RefreshRequest | None = None
    ) -> Any:
        """With a JSON body: the rotated pair as JSON. Without one, from a browser: the
        refresh cookie is rotated in place and 204 comes back (cross-site calls refused)."""
        response.headers["Cache-Control"] = "no-store"
        if body is not None:
            return TokenPairOut.of(await auth.refresh(body.refresh_token, client))
        cookies = web_of(auth).cookies
        token = cookies.refresh_token(request.scope)
        if token is None:
            raise MissingToken("Send refresh_token in the body, or the refresh cookie.")
        check_same_origin(request.scope, auth.settings.trusted_origins)
        pair = await auth.refresh(token, client)
        rotated = Response(status_code=status.HTTP_204_NO_CONTENT)
        cookies.set_tokens(rotated, pair, request)
        return rotated

    @router.get("/refresh", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse)
    @public
    async def refresh_and_return(
        request: Request, client: Client, next: Annotated[str, Query(max_length=2048)] = "/"
    ) -> Response:
        """Transparent refresh for page loads (the guard sends expired browsers here): rotate
        the refresh cookie and go back to ``next``, or clear the cookies and go to sign-in."""
        cookies = web_of(auth).cookies
        back = safe_next(next)
        token = cookies.refresh_token(request.scope)
        if token is not None:
            try:
                pair = await auth.refresh(token, client)
            except AuthenticationError:
                pass
            else:
                redirect = RedirectResponse(back, status_code=status.HTTP_303_SEE_OTHER)
                cookies.set_tokens(redirect, pair, request)
                return redirect
        to_sign_in = RedirectResponse(
            cookies.sign_in_url(back), status_code=status.HTTP_303_SEE_OTHER
        )
        cookies.clear(to_sign_in, request)
        return to_sign_in

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(
        principal: CurrentPrincipal, client: Client, request: Request, response: Response
    ) -> None:
        await auth.logout(principal, client)
        web_of(auth).cookies.clear(response, request)

    @router.post(
        "/reauthenticate",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={429: {"model": ErrorOut}},
    )
    async def reauthenticate(
        body: ReauthenticateRequest, principal: CurrentPrincipal, client: Client
    ) -> None:
        """Prove the password again, for actions that need a recent sign-in (ASVS 7.5.1);
        an account with a second factor proves that instead (``code`` or ``recovery_code``)."""
        if body.code is not None or body.recovery_code is not None:
            await auth.step_up(
                principal, code=body.code, recovery_code=body.recovery_code, client=client
            )
        else:
            await auth.reauthenticate(principal, body.password or "", client)

    @router.post(
        "/logout-all",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={403: {"model": ErrorOut, "description": "reauthentication_required"}},
    )
    async def logout_all(
        principal: CurrentPrincipal,
        client: Client,
        keep_current: Annotated[bool, Query()] = False,
    ) -> None:
        if keep_current:  # ending one's own session too needs no proof: it only loses access
            await auth.require_fresh_auth(principal)
        await auth.revoke_user_sessions(
            principal.user_id,
            keep_session_id=principal.session_id if keep_current else None,
            actor=principal.user_id,
            client=client,
        )

    @router.get("/sessions")
    async def list_sessions(principal: CurrentPrincipal) -> list[SessionOut]:
        return [
            SessionOut(
                id=record.id,
                created_at=moment(record.created_at),
                last_seen_at=moment(record.last_seen_at),
                expires_at=moment(record.expires_at),
                user_agent=record.user_agent,
                ip=record.ip,
                current=record.id == principal.session_id,
                amr=list(record.methods),
            )
            for record in await auth.list_sessions(principal.user_id)
        ]

    @router.delete(
        "/sessions/{session_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={404: {"model": ErrorOut}},
    )
    async def delete_session(session_id: str, principal: CurrentPrincipal, client: Client) -> None:
        await auth.revoke_session(
            session_id,
            user_id=principal.user_id,
            reason=RevokeReason.USER_REVOKED,
            actor=principal.user_id,
            client=client,
        )

    @router.post(
        "/password",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={422: {"model": ErrorOut}},
    )
    async def change_password(
        body: PasswordChangeRequest, principal: CurrentPrincipal, client: Client
    ) -> None:
        await auth.change_password(principal, body.current_password, body.new_password, client)

    @router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED)
    @public
    async def request_password_reset(body: PasswordResetRequest, client: Client) -> AcceptedOut:
        await auth.request_password_reset(body.email, client)
        return AcceptedOut(message=RESET_ACCEPTED)

    @router.post(
        "/password-reset/confirm",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    )
    @public
    async def confirm_password_reset(body: PasswordResetConfirm, client: Client) -> None:
        await auth.confirm_password_reset(body.token, body.new_password, client)

    @router.get("/me")
    @keys_allowed
    async def me(principal: CurrentPrincipal) -> MeOut:
        return MeOut(
            id=principal.user_id,
            email=principal.email,
            roles=list(principal.roles),
            session_id=principal.session_id,
            email_verified=principal.email_verified,
        )

    router.include_router(build_providers_router(auth))
    router.include_router(build_verification_router(auth, registration=registration))
    return router


# -- installing on an app -------------------------------------------------------------------


def install_error_handlers(app: FastAPI) -> None:
    async def on_sessionjwt_error(_request: Request, error: Exception) -> Response:
        if not isinstance(error, SessionJWTError):
            raise error
        return error_response(error)

    async def on_validation_error(_request: Request, error: Exception) -> Response:
        if not isinstance(error, RequestValidationError):
            raise error
        fields = [
            {"field": _field_name(item), "message": item.get("msg", "invalid")}
            for item in error.errors()
        ]
        names = ", ".join(field["field"] for field in fields)
        return JSONResponse(
            {"error": "validation_error", "message": f"Invalid request: {names}", "fields": fields},
            status_code=422,
        )

    app.add_exception_handler(SessionJWTError, on_sessionjwt_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    install_http_error_handlers(app)  # 404, 405, unparseable bodies: the same envelope


def _field_name(item: dict[str, Any]) -> str:
    """``body.email`` → ``email``; unparseable JSON is about the body, not a character offset."""
    if item.get("type") == "json_invalid":
        return "body"
    parts = [str(part) for part in item.get("loc", ())[1:]]
    return ".".join(parts) or "body"


def protect(
    app: FastAPI,
    auth: "AuthCore",
    *,
    public_paths: Iterable[str] | None = None,
    cookies: bool = True,
) -> None:
    """Default-deny guard over the whole app, plus sessionjwt's error responses.

    ``public_paths`` defaults to the app's own OpenAPI document and docs pages. ``cookies``
    also accepts the access cookie (CSRF-checked) when a request has no ``Authorization``.
    """
    if public_paths is None:
        public_paths = [
            path
            for path in (
                app.openapi_url,
                app.docs_url,
                app.redoc_url,
                app.swagger_ui_oauth2_redirect_url if app.docs_url else None,
            )
            if path
        ]
    install_error_handlers(app)
    app.add_middleware(
        GuardMiddleware,
        check=auth.checker.timed_check,
        is_public_request=PublicRoutes(app.router, public_paths),
        cookies=web_of(auth).cookies if cookies else None,
        trusted_origins=auth.settings.trusted_origins,
    )
