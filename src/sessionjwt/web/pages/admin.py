"""Admin pages under /manage: find a user, see and revoke their sessions, disable or enable
the account, reset their second factors, read their audit events.

Only the role ``settings.admin_role`` gets in (with a second-factor session when
``SESSIONJWT_MFA_REQUIRED_ROLES`` names it), and every action needs a fresh proof: an admin
session left open on a shared machine must not be enough to lock people out.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from sessionjwt.audit.query import AuditFilter
from sessionjwt.errors import InsufficientRole, MfaRequired, UserNotFound
from sessionjwt.principal import Principal
from sessionjwt.sessions.revoke import RevokeReason
from sessionjwt.web.api_keys import listed_keys
from sessionjwt.web.binding import web_of
from sessionjwt.web.pages.devices import devices_of, provider_titles
from sessionjwt.web.pages.events import event_rows
from sessionjwt.web.pages.routing import Pages, see_other

MANAGE_PATH = "/manage/users"
ADMIN_ONLY = "You need the admin role to see this page."
ADMIN_NEEDS_MFA = (
    "Admin pages need a session that proved a second factor. Set up two-step sign-in, or "
    "confirm it, on the Security page, then come back."
)
SEARCH_LIMIT = 50
AUDIT_LIMIT = 50
DONE_NOTICES = {
    "revoked": "Session revoked.",
    "disabled": "Account disabled. Its sessions have ended.",
    "enabled": "Account enabled.",
    "key_revoked": "API key revoked: it is refused from its next request.",
    "mfa_reset": "Two-step sign-in was reset: every second factor and recovery code was "
    "removed, and the user's sessions have ended.",
}

Csrf = Annotated[str, Form(max_length=128)]


class AdminOnly(InsufficientRole):
    """403 as a page; carries the principal so the page keeps the signed-in nav."""

    def __init__(self, principal: Principal) -> None:
        super().__init__(ADMIN_ONLY)
        self.principal = principal


class AdminMfaRequired(MfaRequired):
    """403 as a page (``SESSIONJWT_MFA_REQUIRED_ROLES``), with the way to the Security page."""

    links = (("/security", "Go to the Security page"),)

    def __init__(self, principal: Principal) -> None:
        super().__init__(ADMIN_NEEDS_MFA)
        self.principal = principal


def user_path(user_id: str) -> str:
    return f"{MANAGE_PATH}/{quote(user_id, safe='')}"


def add_admin_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    role = auth.settings.admin_role

    async def admin(
        principal: Annotated[Principal, Depends(web_of(auth).dependencies.principal)],
    ) -> Principal:
        if not principal.has_roles(role):
            raise AdminOnly(principal)
        try:
            await web_of(auth).dependencies.mfa_policy(principal)
        except MfaRequired:
            raise AdminMfaRequired(principal) from None
        return principal

    Admin = Annotated[Principal, Depends(admin)]

    @router.get(MANAGE_PATH)
    async def users_page(
        request: Request, principal: Admin, q: Annotated[str, Query(max_length=320)] = ""
    ) -> Response:
        found = await auth.users.search(q, SEARCH_LIMIT)
        return pages.renderer.page(
            request, "manage/users.html", title="Users", principal=principal, q=q, users=found
        )

    @router.get(MANAGE_PATH + "/{user_id}")
    async def user_page(
        request: Request, user_id: str, principal: Admin, done: str = ""
    ) -> Response:
        user = await auth.users.get(user_id)
        if user is None:
            raise UserNotFound()
        records = await auth.list_sessions(user.id)
        audit = await auth.audit_events(AuditFilter(user=user.id, limit=AUDIT_LIMIT))
        factors = await auth.factors.summary(user.id)
        keys = await listed_keys(auth, user.id)
        return pages.renderer.page(
            request,
            "manage/user.html",
            title=user.email,
            principal=principal,
            notice=DONE_NOTICES.get(done),
            user=user,
            user_path=user_path(user.id),
            devices=devices_of(records, None, provider_titles(pages)),
            events=event_rows(audit.events),
            factors=factors,
            keys=keys,
        )

    @router.post(MANAGE_PATH + "/{user_id}/sessions/{session_id}/revoke")
    async def revoke(
        request: Request, user_id: str, session_id: str, principal: Admin, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        back = user_path(user_id)
        if (detour := await pages.fresh_or_reauth(principal, back)) is not None:
            return detour
        await auth.revoke_session(
            session_id,
            user_id=user_id,
            reason=RevokeReason.ADMIN_REVOKED,
            actor=principal.user_id,
            client=pages.client(request),
        )
        return see_other(back + "?done=revoked")

    @router.post(MANAGE_PATH + "/{user_id}/api-keys/{key_id}/revoke")
    async def revoke_key(
        request: Request, user_id: str, key_id: str, principal: Admin, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        back = user_path(user_id)
        if (detour := await pages.fresh_or_reauth(principal, back)) is not None:
            return detour
        await auth.delete_api_key(
            key_id, user_id=user_id, actor=principal.user_id, client=pages.client(request)
        )
        return see_other(back + "?done=key_revoked")

    async def set_disabled(
        request: Request, user_id: str, principal: Principal, csrf_token: str, disabled: bool
    ) -> Response:
        pages.check_form(request, csrf_token)
        back = user_path(user_id)
        if (detour := await pages.fresh_or_reauth(principal, back)) is not None:
            return detour
        await auth.set_user_disabled(user_id, disabled, actor=principal.user_id)
        return see_other(back + ("?done=disabled" if disabled else "?done=enabled"))

    @router.post(MANAGE_PATH + "/{user_id}/disable")
    async def disable(
        request: Request, user_id: str, principal: Admin, csrf_token: Csrf = ""
    ) -> Response:
        return await set_disabled(request, user_id, principal, csrf_token, True)

    @router.post(MANAGE_PATH + "/{user_id}/enable")
    async def enable(
        request: Request, user_id: str, principal: Admin, csrf_token: Csrf = ""
    ) -> Response:
        return await set_disabled(request, user_id, principal, csrf_token, False)

    @router.post(MANAGE_PATH + "/{user_id}/mfa-reset")
    async def reset_factors(
        request: Request, user_id: str, principal: Admin, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        back = user_path(user_id)
        if (detour := await pages.fresh_or_reauth(principal, back)) is not None:
            return detour
        if await auth.users.get(user_id) is None:
            raise UserNotFound()
        await auth.reset_factors(user_id, actor=principal.user_id)
        # An admin resetting their own account has just ended this session too.
        return see_other(back + "?done=mfa_reset")
