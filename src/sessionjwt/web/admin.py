"""The operator's HTTP face for the key ring, the audit trail, second-factor resets and users'
API keys, for
the admin role (and, under ``SESSIONJWT_MFA_REQUIRED_ROLES``, a second-factor session).

The same operations as ``sessionjwt keys``: useful when no shell reaches the database, and
for the 2 AM breach — ``POST /admin/keys/rotate {"revoke_all": true}`` retires every key and
ends every session on every instance in one write.
"""

# No ``from __future__ import annotations``: FastAPI must see the local ``Admin`` dependency.
# The responses are the core's own dataclasses (KeyInfo, Rotation, AuditPage): FastAPI
# serialises them, so no schema here mirrors them field by field.
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict

from sessionjwt.audit.query import MAX_LIMIT, AuditFilter, AuditPage
from sessionjwt.client import ClientInfo
from sessionjwt.errors import UserNotFound
from sessionjwt.keys.store import KeyInfo, Rotation
from sessionjwt.principal import Principal
from sessionjwt.web.api_keys import ApiKeyOut, listed_keys
from sessionjwt.web.binding import web_of
from sessionjwt.web.schemas import ErrorOut
from sessionjwt.web.scopes import account_gate

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore


class MfaResetOut(BaseModel):
    """What the reset removed (never a secret)."""

    totp: bool
    passkeys: int
    recovery_codes: int


ADMIN_SCOPE = "admin"


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revoke_all: bool = False
    force: bool = False


def build_admin_router(auth: "AuthCore") -> APIRouter:
    # The admin role, and a second-factor session when SESSIONJWT_MFA_REQUIRED_ROLES says so.
    Admin = Annotated[Principal, Depends(web_of(auth).dependencies.require_admin())]
    # An API key reaches the admin API only with the "admin" scope (and its owner's role).
    gate = account_gate(web_of(auth).dependencies.principal, ADMIN_SCOPE, "the admin API")
    router = APIRouter(
        tags=["admin"],
        dependencies=[Depends(gate)],
        responses={
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
            404: {"model": ErrorOut},
            409: {"model": ErrorOut},
            422: {"model": ErrorOut},
            503: {"model": ErrorOut},
        },
    )

    @router.get("/keys")
    async def list_keys(_: Admin) -> list[KeyInfo]:
        return await auth.list_keys()

    @router.post("/keys/rotate")
    async def rotate(body: RotateRequest, principal: Admin) -> Rotation:
        return await auth.rotate_keys(
            revoke_all=body.revoke_all, force=body.force, actor=f"user:{principal.user_id}"
        )

    @router.post("/keys/{kid}/retire", status_code=status.HTTP_204_NO_CONTENT)
    async def retire(kid: str, principal: Admin) -> None:
        await auth.retire_key(kid, actor=f"user:{principal.user_id}")

    @router.get("/audit")
    async def audit(
        _: Admin,
        user: Annotated[str | None, Query(max_length=320, description="Email or user id.")] = None,
        event: Annotated[str | None, Query(max_length=40)] = None,
        since: Annotated[str | None, Query(max_length=40, description="ISO 8601 or epoch.")] = None,
        until: Annotated[str | None, Query(max_length=40, description="Exclusive.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Query(max_length=40)] = None,
    ) -> AuditPage:
        """The audit trail, newest first; pass ``next_cursor`` back as ``cursor`` for more."""
        query = AuditFilter.parse(
            user=user, event=event, since=since, until=until, limit=limit, cursor=cursor
        )
        return await auth.audit_events(query)

    @router.post("/users/{user_id}/mfa-reset")
    async def reset_factors(user_id: str, principal: Admin) -> MfaResetOut:
        """Remove every second factor and recovery code of the user, mail them and end every
        one of their sessions (audited ``mfa_reset``); for a user who lost their device.
        Needs a fresh proof (403 ``reauthentication_required``); 404 ``user_not_found``."""
        await auth.require_fresh_auth(principal)
        if await auth.users.get(user_id) is None:
            raise UserNotFound()
        removed = await auth.reset_factors(user_id, actor=f"user:{principal.user_id}")
        return MfaResetOut(
            totp=removed.totp,
            passkeys=removed.passkeys,
            recovery_codes=removed.recovery_codes_left,
        )

    @router.get("/users/{user_id}/api-keys")
    async def list_user_api_keys(user_id: str, _: Admin) -> list[ApiKeyOut]:
        """The user's live personal API keys (never a key or its hash); 404 ``user_not_found``."""
        if await auth.users.get(user_id) is None:
            raise UserNotFound()
        return await listed_keys(auth, user_id)

    @router.delete("/users/{user_id}/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_user_api_key(
        user_id: str,
        key_id: str,
        principal: Admin,
        client: Annotated[ClientInfo, Depends(web_of(auth).dependencies.client)],
    ) -> None:
        """Revoke one of the user's keys through the Revoker (refused by every instance on
        its next request); audited with the administrator as actor. 404 ``api_key_not_found``."""
        await auth.delete_api_key(
            key_id, user_id=user_id, actor=f"user:{principal.user_id}", client=client
        )

    return router
