"""The FastAPI dependency and the ASGI middleware: the issuer's error shape and headers."""

# No ``from __future__ import annotations``: FastAPI must evaluate the local Annotated aliases.

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from sessionjwt import Principal
from sessionjwt.resource_server import ResourceServer
from sessionjwt.resource_server.fastapi import install
from sessionjwt.web.credentials import current_principal
from tests.resource_server.conftest import config_for
from tests.resource_server.fake_issuer import FakeIssuer


def build_app(rs: ResourceServer, *, middleware: bool, required: bool = False) -> FastAPI:
    app = FastAPI()
    install(app, rs if middleware else None, required=required)

    @app.get("/me")
    async def me(user: Annotated[Principal, Depends(rs.principal)]) -> dict[str, str]:
        return {"user": user.user_id, "session": user.session_id}

    @app.get("/admin")
    async def admin(user: Annotated[Principal, Depends(rs.require_roles("admin"))]) -> str:
        return user.user_id

    @app.get("/orders")
    async def orders(user: Annotated[Principal, Depends(rs.require_scopes("orders:read"))]) -> str:
        return user.credential

    @app.get("/open")
    async def open_route(request: Request) -> dict[str, str | None]:
        principal = current_principal(request)
        return {"user": principal.user_id if principal else None}

    return app


@pytest.fixture
async def rs(issuer: FakeIssuer) -> AsyncIterator[ResourceServer]:
    async with ResourceServer(config_for(issuer)) as server:
        yield server


@pytest.fixture(params=[False, True], ids=["dependency", "middleware"])
async def http(
    rs: ResourceServer, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(rs, middleware=request.param))
    async with httpx.AsyncClient(transport=transport, base_url="http://rs.test") as client:
        yield client


async def test_live_token_reaches_the_handler(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    response = await http.get("/me", headers={"Authorization": f"Bearer {issuer.token('u', 's')}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"user": "u", "session": "s"}


async def test_missing_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/me")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert response.headers["www-authenticate"] == 'Bearer realm="sessionjwt"'
    assert (await http.get("/open")).json() == {"user": None}  # anonymous is not refused


async def test_bad_token_gets_the_issuers_refusal(http: httpx.AsyncClient) -> None:
    response = await http.get("/me", headers={"Authorization": "Bearer a.b.c"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.headers["cache-control"] == "no-store"


async def test_revoked_session_and_issuer_down(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    issuer.revoked.add("gone")
    response = await http.get(
        "/me", headers={"Authorization": f"Bearer {issuer.token('u', 'gone')}"}
    )
    assert (response.status_code, response.json()["error"]) == (401, "session_revoked")
    issuer.introspect_status = 500
    response = await http.get("/me", headers={"Authorization": f"Bearer {issuer.token('u', 'x')}"})
    assert (response.status_code, response.json()["error"]) == (503, "store_unavailable")
    assert response.headers["retry-after"] == "1"


async def test_roles(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    response = await http.get("/admin", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_role")
    issuer.roles = ("admin",)
    response = await http.get(
        "/admin", headers={"Authorization": f"Bearer {issuer.token('boss', 'sb')}"}
    )
    assert response.status_code == 200


async def test_scopes_come_from_the_issuers_answer(
    http: httpx.AsyncClient, issuer: FakeIssuer
) -> None:
    full = await http.get("/orders", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert (full.status_code, full.json()) == (200, "session"), "no scopes: a full-access session"
    issuer.credential, issuer.scope = "client", "orders:write"
    refused = await http.get(
        "/orders", headers={"Authorization": f"Bearer {issuer.token('c', 'c1')}"}
    )
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    issuer.scope = None  # a client granted no scope is still restricted
    bare = await http.get("/orders", headers={"Authorization": f"Bearer {issuer.token('c', 'c2')}"})
    assert bare.status_code == 403
    issuer.scope = "orders:read orders:write"
    allowed = await http.get(
        "/orders", headers={"Authorization": f"Bearer {issuer.token('c', 'c3')}"}
    )
    assert (allowed.status_code, allowed.json()) == (200, "client")


async def test_middleware_required_refuses_anonymous(
    rs: ResourceServer, issuer: FakeIssuer
) -> None:
    transport = httpx.ASGITransport(app=build_app(rs, middleware=True, required=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://rs.test") as client:
        assert (await client.get("/open")).status_code == 401
        authorised = await client.get(
            "/open", headers={"Authorization": f"Bearer {issuer.token('u', 's')}"}
        )
        assert authorised.json() == {"user": "u"}
