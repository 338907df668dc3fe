"""The default-deny guard on an application of our own: unknown paths, @public in either decorator
order, routers, mounts, late routes, roles, methods, docs pages, HEAD, and examples/app.py.

No ``from __future__ import annotations``: FastAPI must evaluate the handlers' Annotated
dependencies, which refer to the test's local ``auth``.
"""

import importlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from sessionjwt import Principal, SessionJWT, public
from tests.conftest import PASSWORD, bearer


@asynccontextmanager
async def connect(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def guarded(auth: SessionJWT) -> FastAPI:
    """The five-line embed of the README: router, guard, then the application's routes."""
    app = FastAPI()
    app.include_router(auth.router(), prefix="/auth")
    auth.protect(app)
    return app


async def token_for(auth: SessionJWT, email: str, roles: tuple[str, ...] = ()) -> dict[str, str]:
    await auth.register(email, PASSWORD, roles=roles)
    pair = await auth.login(email, PASSWORD)
    return bearer(pair.access_token)


@pytest.fixture
async def alice(auth: SessionJWT) -> dict[str, str]:
    """Authorization headers of a signed-in user without roles."""
    return await token_for(auth, "alice@example.com")


def assert_refused(response: httpx.Response, code: str = "missing_token") -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")


# -- unknown paths and plain routes ---------------------------------------------------------------


async def test_unknown_path_is_refused_without_a_token_and_not_found_with_one(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)
    async with connect(app) as http:
        assert_refused(await http.get("/no/such/page"))
        assert_refused(await http.post("/no/such/page"))
        assert_refused(
            await http.get("/no/such/page", headers=bearer("not.a.jwt")), "invalid_token"
        )
        found = await http.get("/no/such/page", headers=alice)
        assert found.status_code == 404


async def test_public_route_is_open_and_a_protected_one_is_not(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)

    @app.get("/open")
    @public
    async def open_() -> dict[str, str]:
        return {"open": "yes"}

    @app.get("/closed")
    async def closed() -> dict[str, str]:
        return {"closed": "but you are in"}

    async with connect(app) as http:
        assert (await http.get("/open")).json() == {"open": "yes"}
        assert_refused(await http.get("/closed"))
        assert (await http.get("/closed", headers=alice)).json() == {"closed": "but you are in"}


async def test_a_header_seen_before_is_still_judged_on_every_request(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    """The guard remembers how a header parsed, never whether it passed: the same bytes are
    refused again if malformed, and refused once their session is revoked."""
    app = guarded(auth)

    @app.get("/closed")
    async def closed() -> dict[str, str]:
        return {"closed": "but you are in"}

    malformed = {"Authorization": "Bearer not a token"}
    async with connect(app) as http:
        for _ in range(2):
            assert_refused(await http.get("/closed", headers=malformed))
        for _ in range(2):
            assert (await http.get("/closed", headers=alice)).status_code == 200
        assert (await http.post("/auth/logout", headers=alice)).status_code == 204
        assert_refused(await http.get("/closed", headers=alice), "session_revoked")


async def test_public_works_in_either_decorator_order(auth: SessionJWT) -> None:
    app = guarded(auth)

    @app.get("/inner")
    @public
    async def inner() -> dict[str, str]:
        return {"order": "public under the route"}

    @public
    @app.get("/outer")
    async def outer() -> dict[str, str]:
        return {"order": "public over the route"}

    @app.get("/neither")
    async def neither() -> dict[str, str]:
        return {"order": "none"}

    async with connect(app) as http:
        assert (await http.get("/inner")).status_code == 200
        assert (await http.get("/outer")).status_code == 200
        assert_refused(await http.get("/neither"))


async def test_protected_routes_sharing_a_prefix_with_public_ones_stay_protected(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)

    @app.get("/items")
    @public
    async def items() -> list[str]:
        return ["a", "b"]

    @app.get("/items/secret")
    async def items_secret() -> dict[str, str]:
        return {"secret": "s"}

    @app.get("/items-admin")
    async def items_admin() -> dict[str, str]:
        return {"admin": "a"}

    @app.get("/files/{name}")
    @public
    async def file(name: str) -> dict[str, str]:
        return {"file": name}

    @app.get("/files/{name}/owner")
    async def file_owner(name: str) -> dict[str, str]:
        return {"owner": name}

    async with connect(app) as http:
        assert (await http.get("/items")).status_code == 200
        assert (await http.get("/files/report.pdf")).json() == {"file": "report.pdf"}
        for path in ("/items/secret", "/items-admin", "/files/report.pdf/owner", "/items/"):
            assert_refused(await http.get(path))
        assert (await http.get("/items/secret", headers=alice)).status_code == 200
        assert (await http.get("/files/report.pdf/owner", headers=alice)).status_code == 200


# -- routes added late ---------------------------------------------------------------------------


async def test_routes_added_after_protect_and_after_traffic_are_guarded(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)
    async with connect(app) as http:
        assert_refused(await http.get("/auth/me"))  # the guard has built its table

        @app.get("/late")
        async def late() -> dict[str, str]:
            return {"late": "protected"}

        @app.get("/late-public")
        @public
        async def late_public() -> dict[str, str]:
            return {"late": "public"}

        assert_refused(await http.get("/late"))
        assert (await http.get("/late", headers=alice)).status_code == 200
        assert (await http.get("/late-public")).json() == {"late": "public"}


async def test_a_public_route_added_for_a_path_already_refused_becomes_public(
    auth: SessionJWT,
) -> None:
    app = guarded(auth)
    async with connect(app) as http:
        assert_refused(await http.get("/status"))

        @app.get("/status")
        @public
        async def status() -> dict[str, str]:
            return {"status": "ok"}

        assert (await http.get("/status")).status_code == 200


async def test_a_protected_route_added_to_an_included_router_later_is_guarded(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)
    admin = APIRouter()

    @admin.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ping": "pong"}

    app.include_router(admin, prefix="/api")

    @app.get("/api/{page}")
    @public
    async def page(page: str) -> dict[str, str]:
        return {"page": page}

    async with connect(app) as http:
        assert_refused(await http.get("/api/ping"))
        assert (await http.get("/api/about")).json() == {"page": "about"}

        @admin.get("/payroll")
        async def payroll() -> dict[str, str]:  # no Depends: relies on the guard alone
            return {"salary": "confidential"}

        assert (await http.get("/api/payroll", headers=alice)).json() == {"salary": "confidential"}
        assert_refused(await http.get("/api/payroll"))


# -- routers and mounts --------------------------------------------------------------------------


async def test_routes_of_an_included_router_with_a_prefix(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)
    api = APIRouter()
    nested = APIRouter()

    @api.get("/health")
    @public
    async def health() -> dict[str, str]:
        return {"health": "ok"}

    @api.get("/orders")
    async def orders() -> list[int]:
        return [1, 2]

    @nested.get("/report")
    async def report() -> dict[str, str]:
        return {"report": "r"}

    @nested.get("/help")
    @public
    async def help_() -> dict[str, str]:
        return {"help": "h"}

    api.include_router(nested, prefix="/nested")
    app.include_router(api, prefix="/api/v1")

    async with connect(app) as http:
        assert (await http.get("/api/v1/health")).status_code == 200
        assert (await http.get("/api/v1/nested/help")).status_code == 200
        for path in ("/api/v1/orders", "/api/v1/nested/report", "/health", "/orders"):
            assert_refused(await http.get(path))
        assert (await http.get("/api/v1/orders", headers=alice)).json() == [1, 2]
        assert (await http.get("/api/v1/nested/report", headers=alice)).status_code == 200


def sub_application() -> FastAPI:
    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @sub.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "from sub"}

    return sub


async def test_a_mounted_sub_application_is_protected_by_default(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)
    app.mount("/sub", sub_application())

    async def raw(scope: object, receive: object, send: object) -> None:
        await PlainTextResponse("raw")(scope, receive, send)  # type: ignore[arg-type]

    app.mount("/raw", raw)

    async with connect(app) as http:
        for path in ("/sub/hello", "/sub/unknown", "/sub", "/sub/", "/raw", "/raw/anything"):
            assert_refused(await http.get(path))
        assert (await http.get("/sub/hello", headers=alice)).json() == {"hello": "from sub"}
        assert (await http.get("/raw/anything", headers=alice)).text == "raw"


async def test_a_mounted_sub_application_marked_public_is_open(auth: SessionJWT) -> None:
    app = guarded(auth)
    app.mount("/open", public(sub_application()))
    app.mount("/closed", sub_application())

    async with connect(app) as http:
        assert (await http.get("/open/hello")).json() == {"hello": "from sub"}
        assert (await http.get("/open/unknown")).status_code == 404
        assert_refused(await http.get("/closed/hello"))
        assert_refused(await http.get("/openhello"))  # a prefix of the mount is not the mount


# -- roles --------------------------------------------------------------------------------------


async def test_require_roles(auth: SessionJWT, alice: dict[str, str]) -> None:
    app = guarded(auth)

    @app.get("/admin")
    async def admin(
        user: Annotated[Principal, Depends(auth.require_roles("admin"))],
    ) -> dict[str, str]:
        return {"admin": user.email}

    @app.get("/audit")
    async def audit(
        user: Annotated[Principal, Depends(auth.require_roles("admin", "auditor"))],
    ) -> dict[str, str]:
        return {"auditor": user.email}

    root = await token_for(auth, "root@example.com", roles=("admin",))
    async with connect(app) as http:
        assert_refused(await http.get("/admin"))
        denied = await http.get("/admin", headers=alice)
        assert denied.status_code == 403
        assert denied.json()["error"] == "insufficient_role"
        assert denied.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
        assert (await http.get("/admin", headers=root)).json() == {"admin": "root@example.com"}
        # Every listed role is required, not any one of them.
        assert (await http.get("/audit", headers=root)).status_code == 403


# -- methods, docs and HEAD ---------------------------------------------------------------------


async def test_a_method_no_public_route_takes_is_protected(
    auth: SessionJWT, alice: dict[str, str]
) -> None:
    app = guarded(auth)

    @app.post("/submit")
    @public
    async def submit() -> dict[str, str]:
        return {"submitted": "yes"}

    @app.get("/report")
    @public
    async def report_get() -> dict[str, str]:
        return {"report": "public"}

    @app.post("/report")
    async def report_post() -> dict[str, str]:
        return {"report": "written"}

    async with connect(app) as http:
        assert (await http.post("/submit")).status_code == 200
        assert_refused(await http.get("/submit"))
        assert_refused(await http.delete("/submit"))
        assert (await http.get("/submit", headers=alice)).status_code == 405
        assert (await http.get("/report")).status_code == 200
        assert_refused(await http.post("/report"))
        assert (await http.post("/report", headers=alice)).json() == {"report": "written"}


async def test_docs_and_openapi_are_public_by_default(auth: SessionJWT) -> None:
    app = guarded(auth)
    async with connect(app) as http:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert (await http.get(path)).status_code == 200, path
        assert "/auth/login" in (await http.get("/openapi.json")).json()["paths"]


async def test_docs_can_be_made_private(auth: SessionJWT, alice: dict[str, str]) -> None:
    app = FastAPI()
    app.include_router(auth.router(), prefix="/auth")
    auth.protect(app, public_paths=[])
    async with connect(app) as http:
        assert_refused(await http.get("/openapi.json"))
        assert_refused(await http.get("/docs"))
        assert (await http.get("/openapi.json", headers=alice)).status_code == 200
        assert (await http.post("/auth/login", json={})).status_code == 422  # still public


async def test_head_is_public_only_where_the_public_route_takes_head(auth: SessionJWT) -> None:
    app = guarded(auth)

    async def plain(_request: Request) -> Response:
        return PlainTextResponse("plain")

    async def private(_request: Request) -> Response:
        return PlainTextResponse("private")

    app.add_route("/plain", public(plain), methods=["GET"])
    app.add_route("/plain-private", private, methods=["GET"])

    @app.get("/api-route")
    @public
    async def api_route() -> dict[str, str]:
        return {"api": "route"}

    async with connect(app) as http:
        head = await http.head("/plain")
        assert head.status_code == 200
        assert head.content == b""
        refused = await http.head("/plain-private")  # a HEAD answer has no body to read
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="sessionjwt"'
        # FastAPI's own GET routes do not take HEAD, so no public route does: default-deny.
        assert (await http.head("/api-route")).status_code == 401


# -- examples/app.py ---------------------------------------------------------------------------


async def test_the_example_application(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONJWT_DATA_DIR", str(tmp_path))
    for name, value in (
        ("SESSIONJWT_ARGON2_TIME_COST", "1"),
        ("SESSIONJWT_ARGON2_MEMORY_COST_KIB", "1024"),
        ("SESSIONJWT_ARGON2_PARALLELISM", "1"),
    ):
        monkeypatch.setenv(name, value)
    for name in ("SESSIONJWT_DATABASE_URL", "SESSIONJWT_REDIS_URL", "SESSIONJWT_INVALIDATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "examples.app", raising=False)
    example = importlib.import_module("examples.app")

    async with example.auth as auth:
        assert isinstance(auth, SessionJWT)
        assert auth.settings.resolved_database_url.endswith(str(tmp_path / "sessionjwt.db"))
        user = await token_for(auth, "user@example.com")
        admin = await token_for(auth, "admin@example.com", roles=("admin",))
        async with connect(example.app) as http:
            assert (await http.get("/")).json() == {"hello": "world"}

            assert_refused(await http.get("/profile"))
            profile = await http.get("/profile", headers=user)
            assert profile.status_code == 200
            assert profile.json()["email"] == "user@example.com"

            assert_refused(await http.get("/admin/stats"))
            refused = await http.get("/admin/stats", headers=user)
            assert refused.status_code == 403
            assert refused.json()["error"] == "insufficient_role"
            assert (await http.get("/admin/stats", headers=admin)).json() == {
                "admin": "admin@example.com"
            }

            assert_refused(await http.get("/nowhere"))
            logout = await http.post("/auth/logout", headers=user)
            assert logout.status_code == 204
            assert_refused(await http.get("/profile", headers=user), "session_revoked")
