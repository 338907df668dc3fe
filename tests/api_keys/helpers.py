"""Shared steps of the API-key tests: make a key over HTTP, a route that needs scopes."""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated parameters.

from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from sessionjwt import SessionJWT
from sessionjwt.principal import Principal
from tests.conftest import bearer


async def make_key(
    client: httpx.AsyncClient,
    session_token: str,
    name: str = "ci",
    scopes: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/auth/api-keys",
        json={"name": name, "scopes": scopes or [], **extra},
        headers=bearer(session_token),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def add_scoped_routes(app: FastAPI, auth: SessionJWT) -> None:
    """``GET /orders`` needs ``orders:read``; ``POST /orders`` needs ``orders:write``; both
    answer who asked, as the application would see it."""

    def seen(principal: Principal) -> dict[str, Any]:
        return {
            "user_id": principal.user_id,
            "credential": principal.credential,
            "scopes": list(principal.scopes),
        }

    @app.get("/orders")
    async def read_orders(
        principal: Annotated[Principal, Depends(auth.require_scopes("orders:read"))],
    ) -> dict[str, Any]:
        return seen(principal)

    @app.post("/orders")
    async def write_orders(
        principal: Annotated[Principal, Depends(auth.require_scopes("orders:write"))],
    ) -> dict[str, Any]:
        return seen(principal)
