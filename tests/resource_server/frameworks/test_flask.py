"""The Flask face against a real issuer: the issuer's codes, statuses and headers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sessionjwt.resource_server.flask import (
    SessionJWT,
    current_principal,
    get_principal,
    login_required,
    require_roles,
    require_scopes,
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

pytestmark = pytest.mark.redis


def build_app(settings: dict[str, Any]) -> tuple[Flask, SessionJWT]:
    app = Flask(__name__)
    app.config["SESSIONJWT"] = settings
    extension = SessionJWT(app)

    @app.get("/me")
    @login_required
    def me() -> dict[str, str]:
        return {"user": current_principal.user_id, "session": current_principal.session_id}

    @app.get("/admin")
    @require_roles("admin")
    def admin() -> str:
        return "admin"

    @app.get("/orders")
    @require_scopes("orders:read")
    def orders() -> str:
        return "orders"

    @app.get("/open")
    def open_route() -> dict[str, str | None]:
        principal = get_principal()
        return {"user": principal.user_id if principal else None}

    return app, extension


@pytest.fixture(params=["introspection", "redis"])
def client(live: LiveIssuer, request: pytest.FixtureRequest) -> Iterator[FlaskClient]:
    if request.param == "redis":
        settings = feed_values(live)
    else:
        settings = config_values(live, introspection_cache_ttl=1.0)
    app, extension = build_app(settings)
    yield app.test_client()
    assert extension.rs is not None
    extension.rs.close()


def test_live_token_is_accepted(live: LiveIssuer, client: FlaskClient) -> None:
    tokens = signed_in(live)
    response = client.get("/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json is not None and response.json["session"] == tokens["session_id"]


def test_anonymous_and_missing_token(client: FlaskClient) -> None:
    assert client.get("/open").json == {"user": None}
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json is not None and response.json["error"] == "missing_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="sessionjwt"'


def test_roles_and_scopes(live: LiveIssuer, client: FlaskClient) -> None:
    token = signed_in(live)["access_token"]
    response = client.get("/admin", headers=bearer(token))
    assert response.status_code == 403
    assert response.json is not None and response.json["error"] == "insufficient_role"
    assert client.get("/orders", headers=bearer(token)).status_code == 200  # full-access


@pytest.mark.parametrize("kind", ["tampered", "alg-none", "unknown-kid"])
def test_bad_tokens_are_refused_with_the_issuers_code(
    live: LiveIssuer, client: FlaskClient, kind: str
) -> None:
    token = bad_tokens(signed_in(live)["access_token"])[kind]
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.json is not None and response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    issuer = live.http.get("/auth/me", headers=bearer(token))
    assert issuer.status_code == 401 and issuer.json()["error"] == "invalid_token"


def test_logout_at_the_issuer_is_refused(
    live: LiveIssuer, client: FlaskClient, request: pytest.FixtureRequest
) -> None:
    tokens = signed_in(live)
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 200
    assert live.http.post("/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    response = first_answer_after_logout(
        lambda: client.get("/me", headers=bearer(tokens["access_token"])),
        redis_mode="redis" in request.node.callspec.id,
    )
    assert response.status_code == 401, response.text
    assert response.json is not None and response.json["error"] == "session_revoked"


def test_unreachable_issuer_is_503(live: LiveIssuer) -> None:
    token = signed_in(live)["access_token"]
    app, extension = build_app(unreachable_config(live))
    try:
        response = app.test_client().get("/me", headers=bearer(token))
        assert response.status_code == 503, response.text
        assert response.json is not None and response.json["error"] == "store_unavailable"
    finally:
        assert extension.rs is not None
        extension.rs.close()
