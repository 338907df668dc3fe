"""The Litestar face against a real issuer: the issuer's codes, statuses and headers, and the
bearer scheme in the app's OpenAPI schema."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, Router, WebSocket, get, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from sessionjwt.errors import InsufficientScope
from sessionjwt.principal import Principal
from sessionjwt.resource_server.config import ResourceServerConfig
from sessionjwt.resource_server.litestar import (
    SECURITY_SCHEME,
    SessionJWTPlugin,
    get_principal,
    requires_login,
    requires_roles,
    requires_scopes,
)
from tests.conftest import bearer
from tests.resource_server.frameworks.conftest import (
    LiveIssuer,
    bad_tokens,
    config_values,
    feed_values,
    first_answer_after_logout,
    signed_in,
    unreachable_config,
)
from tests.test_resource_server_live import AUDIENCE, ISSUER, client_token, create_client

pytestmark = pytest.mark.redis
Client = TestClient[Litestar]


@get("/me", guards=[requires_login])
async def me(request: Request[Principal, Principal, State]) -> dict[str, str]:
    return {"user": request.user.user_id, "session": request.auth.session_id}


@get("/admin", guards=[requires_roles("admin")])
async def admin() -> str:
    return "admin"


@get("/orders", guards=[requires_scopes("orders:read")])
async def orders(request: Request[Principal, Principal, State]) -> dict[str, str]:
    return {"credential": request.user.credential}


@get("/orders/export", guards=[requires_scopes("orders:write")])
async def export() -> str:
    return "export"


@get("/open")
async def open_route(request: Request[Any, Any, State]) -> dict[str, str | None]:
    principal = get_principal(request)
    return {"user": principal.user_id if principal else None}


@get("/health", exclude_from_auth=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/reports", exclude_from_auth=True, guards=[requires_login])
async def reports(request: Request[Principal, Principal, State]) -> dict[str, str]:
    """Skipped by the middleware, yet guarded: the guard checks the header itself."""
    return {"user": request.user.user_id}


@get("/members")
async def members() -> str:
    return "members"


team = Router("/team", route_handlers=[members], guards=[requires_roles("admin")])


@get("/refuses")
async def refuses() -> None:
    raise InsufficientScope(scopes=("orders:write",))


@websocket("/feed", guards=[requires_login])
async def feed(socket: WebSocket[Principal, Principal, State]) -> None:
    await socket.accept()
    await socket.send_json({"user": socket.user.user_id})
    await socket.close()


def build_app(settings: dict[str, Any], **options: Any) -> Litestar:
    plugin = SessionJWTPlugin(ResourceServerConfig(**settings), **options)
    return Litestar(
        [me, admin, orders, export, open_route, health, reports, team, refuses, feed],
        plugins=[plugin],
        debug=False,
    )


@pytest.fixture(params=["introspection", "redis"])
def client(live: LiveIssuer, request: pytest.FixtureRequest) -> Iterator[Client]:
    if request.param == "redis":
        settings = feed_values(live)
    else:
        settings = config_values(live, introspection_cache_ttl=1.0)
    with TestClient(build_app(settings)) as test_client:  # the lifespan starts and closes it
        yield test_client


@pytest.fixture(scope="module")
def service_token(live: LiveIssuer) -> str:
    """A service client's token (client credentials) granted exactly ``orders:read``."""
    service = create_client(
        live.cluster, "litestar-export", "--client-credentials", "--scope", "orders:read"
    )
    return client_token(live, service)


def test_live_token_is_accepted(live: LiveIssuer, client: Client) -> None:
    tokens = signed_in(live)
    response = client.get("/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json()["session"] == tokens["session_id"]
    assert client.get("/open", headers=bearer(tokens["access_token"])).json()["user"] is not None


def test_anonymous_and_missing_token(client: Client) -> None:
    assert client.get("/open").json() == {"user": None}
    assert client.get("/health").json() == {"status": "ok"}
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="sessionjwt"'
    assert response.headers["Cache-Control"] == "no-store"


def test_a_non_bearer_credential_is_missing_token(client: Client) -> None:
    response = client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"


def test_roles_and_scopes(live: LiveIssuer, client: Client, service_token: str) -> None:
    token = signed_in(live)["access_token"]
    response = client.get("/admin", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_role"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert client.get("/orders", headers=bearer(token)).status_code == 200  # full-access

    granted = client.get("/orders", headers=bearer(service_token))
    assert granted.status_code == 200 and granted.json() == {"credential": "client"}
    refused = client.get("/orders/export", headers=bearer(service_token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="orders:write"'
    )


@pytest.mark.parametrize("kind", ["tampered", "alg-none", "unknown-kid"])
def test_bad_tokens_are_refused_with_the_issuers_code(
    live: LiveIssuer, client: Client, kind: str
) -> None:
    token = bad_tokens(signed_in(live)["access_token"])[kind]
    issuer = live.http.get("/auth/me", headers=bearer(token))
    assert issuer.status_code == 401 and issuer.json()["error"] == "invalid_token"
    for path in ("/me", "/open"):  # a bad credential is refused even where none is needed
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_websockets_are_closed_1008_with_the_issuers_code(live: LiveIssuer, client: Client) -> None:
    token = signed_in(live)["access_token"]
    with client.websocket_connect("/feed", headers=bearer(token)) as socket:
        assert socket.receive_json()["user"]
    for headers, code in (
        ({}, "missing_token"),
        (bearer(bad_tokens(token)["alg-none"]), "invalid_token"),
    ):
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/feed", headers=headers) as socket:
                socket.receive_json()
        assert (refused.value.code, refused.value.detail) == (1008, code)


def test_logout_at_the_issuer_is_refused(
    live: LiveIssuer, client: Client, request: pytest.FixtureRequest
) -> None:
    tokens = signed_in(live)
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 200
    assert live.http.post("/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    response = first_answer_after_logout(
        lambda: client.get("/me", headers=bearer(tokens["access_token"])),
        redis_mode="redis" in request.node.callspec.id,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "session_revoked"


def test_a_guard_still_checks_where_the_middleware_was_skipped(
    live: LiveIssuer, client: Client
) -> None:
    token = signed_in(live)["access_token"]
    assert client.get("/reports").json()["error"] == "missing_token"
    forged = client.get("/reports", headers=bearer(bad_tokens(token)["tampered"]))
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"
    assert client.get("/reports", headers=bearer(token)).status_code == 200
    refused = client.get("/team/members", headers=bearer(token))  # a router-level guard
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_role"


def test_a_handlers_sessionjwt_error_is_rendered_like_the_issuers(client: Client) -> None:
    response = client.get("/refuses")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert set(response.json()) == {"error", "message"}
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="orders:write"'
    )


def test_unreachable_issuer_is_503(live: LiveIssuer) -> None:
    token = signed_in(live)["access_token"]
    with TestClient(build_app(unreachable_config(live))) as client:  # starts regardless
        response = client.get("/me", headers=bearer(token))
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "store_unavailable"
        assert response.headers["Retry-After"] == "1"
        assert client.get("/health").status_code == 200  # public routes keep answering


def test_required_refuses_anonymous_requests_except_on_excluded_routes(live: LiveIssuer) -> None:
    app = build_app(config_values(live), required=True, exclude="^/schema")
    with TestClient(app) as client:
        response = client.get("/open")
        assert response.status_code == 401 and response.json()["error"] == "missing_token"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="sessionjwt"'
        assert client.get("/health").status_code == 200
        token = signed_in(live)["access_token"]
        assert client.get("/open", headers=bearer(token)).status_code == 200
        paths = client.get("/schema/openapi.json").json()["paths"]
    assert paths["/open"]["get"]["security"] == [{SECURITY_SCHEME: []}]
    assert "security" not in paths["/health"]["get"]


def test_openapi_declares_the_bearer_scheme_on_protected_routes(client: Client) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"][SECURITY_SCHEME] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schema["components"]["securitySchemes"][SECURITY_SCHEME]["description"],
    }
    paths = schema["paths"]
    for protected in ("/me", "/admin", "/orders", "/orders/export", "/reports", "/team/members"):
        assert paths[protected]["get"]["security"] == [{SECURITY_SCHEME: []}], protected
    for public in ("/open", "/health"):
        assert "security" not in paths[public]["get"], public
    assert "security" not in schema  # not app-wide: public routes need no token
    other = Litestar([health]).openapi_schema.to_schema()  # Litestar's shared default untouched
    assert SECURITY_SCHEME not in other.get("components", {}).get("securitySchemes", {})


def test_the_example_app(live: LiveIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``examples/litestar_api.py`` works as written, configured by its ``RS_*`` variables."""
    for name, value in {
        "RS_ISSUER": ISSUER,
        "RS_AUDIENCE": AUDIENCE,
        "RS_CLIENT_ID": live.client_id,
        "RS_CLIENT_SECRET": live.client_secret,
        "RS_JWKS_URL": live.base_url + "/.well-known/jwks.json",
        "RS_INTROSPECTION_URL": live.base_url + "/oauth/introspect",
        "RS_INTROSPECTION_CACHE_TTL": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RS_REDIS_URL", raising=False)
    monkeypatch.delitem(sys.modules, "examples.litestar_api", raising=False)
    example = importlib.import_module("examples.litestar_api")
    tokens = signed_in(live)
    user = bearer(tokens["access_token"])
    with TestClient(example.app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/orders").json()["error"] == "missing_token"
        assert client.get("/orders", headers=user).json()["orders"] == []
        assert client.delete("/orders/7", headers=user).json()["error"] == "insufficient_role"
        paths = client.get("/schema/openapi.json").json()["paths"]
        assert paths["/orders"]["get"]["security"] == [{SECURITY_SCHEME: []}]
        assert live.http.post("/auth/logout", headers=user).status_code == 204
        assert client.get("/orders", headers=user).json()["error"] == "session_revoked"
    sys.modules.pop("examples.litestar_api", None)
