"""The Django middleware and the DRF classes against a real issuer: the issuer's codes,
statuses and headers, with Django's and DRF's own test clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.resource_server.frameworks import django_project
from tests.resource_server.frameworks.conftest import (
    LiveIssuer,
    bad_tokens,
    config_values,
    feed_values,
    first_answer_after_logout,
    signed_in,
    unreachable_config,
)

django_project.configure()

from django.test import Client, override_settings  # noqa: E402 - after settings.configure
from rest_framework.test import APIClient  # noqa: E402

from sessionjwt.errors import ConfigurationError  # noqa: E402
from sessionjwt.resource_server import django as django_face  # noqa: E402

pytestmark = pytest.mark.redis


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture(params=["introspection", "redis"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_values(live: LiveIssuer, mode: str) -> dict[str, Any]:
    if mode == "redis":
        return feed_values(live)
    return config_values(live, introspection_cache_ttl=1.0)


@pytest.fixture
def client(settings_values: dict[str, Any]) -> Iterator[Client]:
    # override_settings' setting_changed signal closes the resource server on the way out.
    with override_settings(SESSIONJWT=settings_values):
        yield Client()


@pytest.fixture
def api(settings_values: dict[str, Any]) -> Iterator[APIClient]:
    with override_settings(SESSIONJWT=settings_values):
        yield APIClient()


def error_of(response: Any) -> str:
    assert response["Content-Type"] == "application/json", response.content
    return str(response.json()["error"])


# -- the middleware and view decorators ----------------------------------------------------


def test_live_token_is_accepted(live: LiveIssuer, client: Client) -> None:
    tokens = signed_in(live)
    response = client.get("/me", **auth(tokens["access_token"]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session"] == tokens["session_id"]
    assert body["str"].endswith("@example.com")  # request.user is the light PrincipalUser


def test_anonymous_and_missing_token(client: Client) -> None:
    assert client.get("/open").json() == {"user": None}
    response = client.get("/me")
    assert response.status_code == 401
    assert error_of(response) == "missing_token"
    assert response["WWW-Authenticate"] == 'Bearer realm="sessionjwt"'
    assert response["Cache-Control"] == "no-store"


def test_roles_and_scopes(live: LiveIssuer, client: Client) -> None:
    token = signed_in(live)["access_token"]
    response = client.get("/admin", **auth(token))
    assert response.status_code == 403
    assert error_of(response) == "insufficient_role"
    assert client.get("/orders", **auth(token)).status_code == 200  # full-access session
    raised = client.get("/raises", **auth(token))  # a view's own refusal, rendered alike
    assert raised.status_code == 403 and error_of(raised) == "insufficient_role"


@pytest.mark.parametrize("kind", ["tampered", "alg-none", "unknown-kid"])
def test_bad_tokens_are_refused_with_the_issuers_code(
    live: LiveIssuer, client: Client, kind: str
) -> None:
    token = bad_tokens(signed_in(live)["access_token"])[kind]
    response = client.get("/open", **auth(token))  # refused before any view, even a public one
    assert response.status_code == 401, response.content
    assert error_of(response) == "invalid_token"
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    issuer = live.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert issuer.status_code == 401 and issuer.json()["error"] == "invalid_token"


def test_logout_at_the_issuer_is_refused(live: LiveIssuer, client: Client, mode: str) -> None:
    tokens = signed_in(live)
    assert client.get("/me", **auth(tokens["access_token"])).status_code == 200
    logout = live.http.post(
        "/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert logout.status_code == 204
    response = first_answer_after_logout(
        lambda: client.get("/me", **auth(tokens["access_token"])), redis_mode=mode == "redis"
    )
    assert response.status_code == 401, response.content
    assert error_of(response) == "session_revoked"


def test_required_setting_refuses_anonymous_requests_up_front(
    settings_values: dict[str, Any],
) -> None:
    with override_settings(SESSIONJWT=settings_values, SESSIONJWT_REQUIRED=True):
        response = Client().get("/open")
    assert response.status_code == 401 and error_of(response) == "missing_token"


def test_unreachable_issuer_is_503(live: LiveIssuer) -> None:
    token = signed_in(live)["access_token"]
    with override_settings(SESSIONJWT=unreachable_config(live)):
        response = Client().get("/open", **auth(token))
    assert response.status_code == 503, response.content
    assert error_of(response) == "store_unavailable"


def test_missing_middleware_is_a_configuration_error_not_a_401(
    live: LiveIssuer, settings_values: dict[str, Any]
) -> None:
    token = signed_in(live)["access_token"]
    with (
        override_settings(SESSIONJWT=settings_values, MIDDLEWARE=[]),
        pytest.raises(ConfigurationError, match="SessionJWTMiddleware is not in settings"),
    ):
        Client(raise_request_exception=True).get("/me", **auth(token))


def test_bad_settings_fail_loudly() -> None:
    with (
        override_settings(SESSIONJWT="not a dict"),
        pytest.raises(ConfigurationError, match="must be a ResourceServerConfig"),
    ):
        django_face.resource_server()


# -- Django REST framework -----------------------------------------------------------------


def test_drf_live_token_sets_user_and_auth(live: LiveIssuer, api: APIClient) -> None:
    tokens = signed_in(live)
    response = api.get("/api/me", **auth(tokens["access_token"]))
    assert response.status_code == 200, response.content
    assert response.json()["session"] == tokens["session_id"]


def test_drf_user_mapper_hook(live: LiveIssuer, settings_values: dict[str, Any]) -> None:
    tokens = signed_in(live)
    mapper = "tests.resource_server.frameworks.django_project.map_user"
    with override_settings(SESSIONJWT=settings_values, SESSIONJWT_USER_MAPPER=mapper):
        response = APIClient().get("/api/me", **auth(tokens["access_token"]))
    assert response.status_code == 200, response.content
    assert response.json()["user"].startswith("mapped:")


def test_drf_refusals_keep_the_issuers_envelope(live: LiveIssuer, api: APIClient) -> None:
    token = signed_in(live)["access_token"]
    missing = api.get("/api/me")
    assert missing.status_code == 401 and error_of(missing) == "missing_token"
    assert missing["WWW-Authenticate"] == 'Bearer realm="sessionjwt"'
    assert missing["Cache-Control"] == "no-store"
    role = api.get("/api/admin", **auth(token))
    assert role.status_code == 403 and error_of(role) == "insufficient_role"
    assert api.get("/api/orders", **auth(token)).status_code == 200
    raised = api.get("/api/raises", **auth(token))
    assert raised.status_code == 403 and error_of(raised) == "insufficient_role"
    # DRF's own IsAuthenticated still answers 401 with the Bearer challenge.
    drf = api.get("/api/drf-authenticated")
    assert drf.status_code == 401 and drf["WWW-Authenticate"] == 'Bearer realm="sessionjwt"'
    assert api.get("/api/drf-authenticated", **auth(token)).status_code == 200


@pytest.mark.parametrize("kind", ["tampered", "alg-none", "unknown-kid"])
def test_drf_alone_refuses_bad_tokens(
    live: LiveIssuer, settings_values: dict[str, Any], kind: str
) -> None:
    """Without the middleware the authentication class checks the token itself."""
    tokens = signed_in(live)
    with override_settings(SESSIONJWT=settings_values, MIDDLEWARE=[]):
        api = APIClient()
        assert api.get("/api/me", **auth(tokens["access_token"])).status_code == 200
        response = api.get("/api/me", **auth(bad_tokens(tokens["access_token"])[kind]))
    assert response.status_code == 401, response.content
    assert error_of(response) == "invalid_token"
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response["Cache-Control"] == "no-store"
