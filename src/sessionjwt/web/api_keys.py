"""FastAPI face of personal API keys: ``/auth/api-keys`` (docs/api-keys.md).

``POST`` makes a key (a session credential, freshly authenticated) and shows it once;
``GET`` lists the caller's live keys (never a key or its hash); ``DELETE`` revokes one
through the Revoker, so every instance refuses it on the next request. A key reaches these
routes only with the ``account`` scope (see :mod:`sessionjwt.web.scopes`), and never makes a
key.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the local Annotated aliases.
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field, field_validator

from sessionjwt.client import ClientInfo
from sessionjwt.errors import SessionRequired
from sessionjwt.principal import Principal
from sessionjwt.sessions.model import SessionRecord
from sessionjwt.web.binding import web_of
from sessionjwt.web.schemas import ErrorOut, moment

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore


class ApiKeyCreateRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[str] = Field(
        default_factory=list,
        max_length=32,
        description='RFC 6749 scope-tokens, e.g. ["orders:read"]; a space-separated string '
        "is accepted too. No scopes: the key can reach only routes that need none.",
    )
    expires_in: int | None = Field(
        default=None,
        gt=0,
        description="Seconds until the key expires; at most SESSIONJWT_API_KEY_MAX_LIFETIME, "
        "which is also the default.",
    )

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value


class ApiKeyCreatedOut(BaseModel):
    id: str
    name: str
    key: str = Field(description="The key itself: shown this once, never again.")
    prefix: str
    scopes: list[str]
    expires_at: datetime


class ApiKeyOut(BaseModel):
    id: str
    name: str | None
    prefix: str | None
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(description="Coalesced like a session's last-seen.")
    expires_at: datetime
    user_agent: str | None = Field(description="The device of the session that created it.")
    ip: str | None

    @classmethod
    def of(cls, record: SessionRecord, last_seen: float) -> "ApiKeyOut":
        return cls(
            id=record.id,
            name=record.name,
            prefix=record.key_prefix,
            scopes=list(record.scope_values),
            created_at=moment(record.created_at),
            last_used_at=moment(last_seen) if last_seen > record.created_at else None,
            expires_at=moment(record.expires_at),
            user_agent=record.user_agent,
            ip=record.ip,
        )


def last_used(auth: "AuthCore", record: SessionRecord) -> float:
    """The key's last use: the stored last-seen, or this process's newer one not flushed yet."""
    cached = auth.cache.sessions.get(record.id)
    seen = record.last_seen_at
    return max(seen, cached.session.last_seen_at) if cached is not None else seen


async def listed_keys(auth: "AuthCore", user_id: str) -> list[ApiKeyOut]:
    """A user's live keys as the API shows them (never a key or its hash)."""
    return [
        ApiKeyOut.of(record, last_used(auth, record))
        for record in await auth.list_api_keys(user_id)
    ]


def build_api_keys_router(auth: "AuthCore") -> APIRouter:
    deps = web_of(auth).dependencies
    router = APIRouter(tags=["API keys"])
    CurrentPrincipal = Annotated[Principal, Depends(deps.principal)]
    Client = Annotated[ClientInfo, Depends(deps.client)]

    @router.post(
        "/api-keys",
        status_code=status.HTTP_201_CREATED,
        responses={
            403: {
                "model": ErrorOut,
                "description": "reauthentication_required; session_required (an API key)",
            },
            422: {"model": ErrorOut},
        },
    )
    async def create_api_key(
        body: ApiKeyCreateRequest, principal: CurrentPrincipal, client: Client, response: Response
    ) -> ApiKeyCreatedOut:
        """A new key for the signed-in user, shown once. Needs a session that proved its
        password (or second factor) recently: 403 ``reauthentication_required`` otherwise."""
        if principal.credential != "session":
            raise SessionRequired()
        await auth.require_fresh_auth(principal)
        created = await auth.create_api_key(
            principal,
            name=body.name,
            scopes=body.scopes,
            expires_in=body.expires_in,
            client=client,
        )
        response.headers["Cache-Control"] = "no-store"
        record = created.record
        return ApiKeyCreatedOut(
            id=record.id,
            name=record.name or "",
            key=created.key,
            prefix=record.key_prefix or "",
            scopes=list(record.scope_values),
            expires_at=moment(record.expires_at),
        )

    @router.get("/api-keys")
    async def list_api_keys(principal: CurrentPrincipal) -> list[ApiKeyOut]:
        return await listed_keys(auth, principal.user_id)

    @router.delete(
        "/api-keys/{key_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses={404: {"model": ErrorOut, "description": "api_key_not_found"}},
    )
    async def delete_api_key(key_id: str, principal: CurrentPrincipal, client: Client) -> None:
        await auth.delete_api_key(
            key_id, user_id=principal.user_id, actor=principal.user_id, client=client
        )

    return router
