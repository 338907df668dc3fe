"""The "API keys" page: the signed-in user's personal API keys — make one (shown once, with a
copy button), see when each was last used, revoke one (docs/api-keys.md).

The new key is rendered in the answer to the form's POST, never put in a URL or a cookie, and
the page is ``no-store`` like every page: reloading it shows the list, not the key again.
Making a key needs a fresh proof, as over HTTP; revoking one only reduces access and needs
the live session alone. A restricted credential (an API key, a scoped session) without the
``account`` scope does not reach this page at all, as it would not reach ``/auth/api-keys``.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from sessionjwt.apikeys.service import NewApiKey
from sessionjwt.errors import InsufficientScope, InvalidApiKeyRequest, SessionRequired
from sessionjwt.principal import Principal
from sessionjwt.tokens.scopes import ACCOUNT_SCOPE
from sessionjwt.web.api_keys import listed_keys
from sessionjwt.web.binding import web_of
from sessionjwt.web.pages.routing import Pages, see_other

API_KEYS_PATH = "/api-keys"
DAY = 86_400
# The lifetimes offered, in days; each is capped by SESSIONJWT_API_KEY_MAX_LIFETIME.
LIFETIME_DAYS = (7, 30, 90, 365)

Csrf = Annotated[str, Form(max_length=128)]


def lifetimes(max_seconds: int) -> list[tuple[int, str]]:
    """(seconds, label) choices no longer than the configured maximum."""
    offered = [(days * DAY, f"{days} days") for days in LIFETIME_DAYS if days * DAY <= max_seconds]
    return offered or [(max_seconds, f"{max_seconds // DAY or 1} days")]


def add_api_key_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth

    async def account_holder(
        principal: Annotated[Principal, Depends(web_of(auth).dependencies.principal)],
    ) -> Principal:
        if not principal.has_scopes(ACCOUNT_SCOPE):
            raise InsufficientScope(scopes=(ACCOUNT_SCOPE,))
        return principal

    Holder = Annotated[Principal, Depends(account_holder)]

    async def render(
        request: Request,
        principal: Principal,
        *,
        created: NewApiKey | None = None,
        error: str | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        return pages.renderer.page(
            request,
            "api_keys.html",
            title="API keys",
            principal=principal,
            keys=await listed_keys(auth, principal.user_id),
            created=created,
            lifetimes=lifetimes(auth.api_keys.max_lifetime),
            error=error,
            notice=notice,
            status=status,
        )

    @router.get(API_KEYS_PATH)
    async def api_keys_page(request: Request, principal: Holder, revoked: str = "") -> Response:
        return await render(request, principal, notice="API key revoked." if revoked else None)

    @router.post(API_KEYS_PATH)
    async def create(
        request: Request,
        principal: Holder,
        csrf_token: Csrf = "",
        name: Annotated[str, Form(max_length=64)] = "",
        scopes: Annotated[str, Form(max_length=1024)] = "",
        expires_in: Annotated[int, Form(gt=0)] = 30 * DAY,
    ) -> Response:
        pages.check_form(request, csrf_token)
        if principal.credential != "session":
            raise SessionRequired()
        if (detour := await pages.fresh_or_reauth(principal, API_KEYS_PATH)) is not None:
            return detour
        try:
            created = await auth.create_api_key(
                principal,
                name=name,
                scopes=scopes.split(),
                expires_in=expires_in,
                client=pages.client(request),
            )
        except InvalidApiKeyRequest as refused:
            return await render(request, principal, error=refused.message, status=422)
        return await render(request, principal, created=created, status=201)

    @router.post(API_KEYS_PATH + "/{key_id}/revoke")
    async def revoke(
        request: Request, key_id: str, principal: Holder, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        # Scoped to the caller: another user's key is "not found", never revoked.
        await auth.delete_api_key(
            key_id, user_id=principal.user_id, actor=principal.user_id, client=pages.client(request)
        )
        return see_other(f"{API_KEYS_PATH}?revoked={quote(key_id, safe='')}")
