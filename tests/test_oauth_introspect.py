"""RFC 7662 introspection: the RFC's own examples, then what a live, dead or unknown token gets.

For access tokens the answer *is* the request check, so a revoke is seen at once; a refresh
token is active while it is its session's current one, and looking at it never rotates it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings, StoreUnavailable
from sessionjwt.server.app import create_app
from tests.conftest import AUDIENCE, ISSUER, bearer, make_settings, register_and_login
from tests.oauth import (
    FORM,
    RFC_BASIC,
    active,
    assert_inactive,
    assert_oauth_error,
    basic,
    introspect,
    register_rfc_client,
)


@pytest.fixture
async def resource_server(auth: SessionJWT) -> tuple[str, str]:
    created = await auth.create_client("orders-api")
    return created.record.client_id, created.secret


# -- RFC 7662 §2.1 / §2.2, verbatim --------------------------------------------------------


async def test_rfc7662_example_request_for_a_token_we_never_issued_is_inactive(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    await register_rfc_client(auth)
    response = await client.post(
        "/oauth/introspect",
        content=b"token=2YotnFZFEjr1zCsicMWpAA&token_type_hint=access_token",
        headers={**FORM, "Accept": "application/json", "Authorization": RFC_BASIC},
    )
    assert_inactive(response)
    assert response.headers["content-type"] == "application/json"


async def test_rfc7662_example_request_from_an_unregistered_client_is_401(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/oauth/introspect",
        content=b"token=mF_9.B5f-4.1JqM&token_type_hint=access_token",
        headers={**FORM, "Accept": "application/json", "Authorization": RFC_BASIC},
    )
    assert_oauth_error(response, 401, "invalid_client")


async def test_rfc7662_example_response_members_for_a_live_access_token(
    client: httpx.AsyncClient, resource_server: tuple[str, str], auth: SessionJWT
) -> None:
    tokens = await register_and_login(client)
    body = active(await introspect(client, tokens["access_token"], resource_server))
    minted: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert body == {
        "active": True,
        "client_id": auth.settings.client_id,
        "username": "alice@example.com",
        "token_type": "Bearer",
        "exp": minted["exp"],
        "iat": minted["iat"],
        "sub": minted["sub"],
        "aud": AUDIENCE,
        "iss": ISSUER,
        "jti": minted["jti"],
        "sid": tokens["session_id"],
        "roles": [],
        "credential": "session",
    }


# -- client authentication -----------------------------------------------------------------


async def test_client_secret_post_is_accepted_too(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    tokens = await register_and_login(client)
    client_id, secret = resource_server
    response = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"], "client_id": client_id, "client_secret": secret},
    )
    active(response)


async def test_introspection_without_client_authentication_is_401(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client)
    assert_oauth_error(
        await introspect(client, tokens["access_token"], None), 401, "invalid_client"
    )


async def test_unknown_client_wrong_secret_and_deleted_client_get_one_identical_answer(
    client: httpx.AsyncClient, auth: SessionJWT, resource_server: tuple[str, str]
) -> None:
    tokens = await register_and_login(client)
    client_id, secret = resource_server
    gone = await auth.create_client("retired-api")
    await auth.delete_client(gone.record.client_id)
    answers = [
        await introspect(client, tokens["access_token"], credentials)
        for credentials in (
            (client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B")),
            ("no-such-client", secret),
            (gone.record.client_id, gone.secret),
            (client_id, ""),
        )
    ]
    for response in answers:
        assert_oauth_error(response, 401, "invalid_client")
    assert len({response.text for response in answers}) == 1


async def test_a_user_bearer_token_is_not_client_authentication(
    client: httpx.AsyncClient,
) -> None:
    tokens = await register_and_login(client)
    response = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"]},
        headers=bearer(tokens["access_token"]),
    )
    assert_oauth_error(response, 401, "invalid_client")


async def test_two_client_authentication_methods_at_once_are_refused(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    client_id, secret = resource_server
    response = await client.post(
        "/oauth/introspect",
        data={"token": "x", "client_id": client_id, "client_secret": secret},
        headers=basic(client_id, secret),
    )
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"token_type_hint=access_token", "application/x-www-form-urlencoded"),
        (b"token=", "application/x-www-form-urlencoded"),  # empty counts as absent (6749 §3.1)
        (b"token=a&token=b", "application/x-www-form-urlencoded"),
        (b'{"token": "a"}', "application/json"),
        (b"token=%ff", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_requests_are_invalid_request(
    client: httpx.AsyncClient, resource_server: tuple[str, str], body: bytes, content_type: str
) -> None:
    response = await client.post(
        "/oauth/introspect",
        content=body,
        headers={"Content-Type": content_type, **basic(*resource_server)},
    )
    assert_oauth_error(response, 400, "invalid_request")


# -- the same liveness decision as the request check --------------------------------------


async def test_introspection_after_logout_is_inactive_at_once(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    tokens = await register_and_login(client)
    active(await introspect(client, tokens["access_token"], resource_server))  # warm
    logout = await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert logout.status_code == 204
    assert_inactive(await introspect(client, tokens["access_token"], resource_server))
    assert_inactive(await introspect(client, tokens["refresh_token"], resource_server))


async def test_expired_access_token_is_inactive(
    client: httpx.AsyncClient,
    resource_server: tuple[str, str],
    clock: ManualClock,
    settings: Settings,
) -> None:
    tokens = await register_and_login(client)
    clock.advance((settings.access_token_ttl + settings.leeway).total_seconds())
    assert_inactive(await introspect(client, tokens["access_token"], resource_server))
    active(await introspect(client, tokens["refresh_token"], resource_server))


async def test_disabled_account_and_sign_out_everywhere_are_inactive(
    client: httpx.AsyncClient, auth: SessionJWT, resource_server: tuple[str, str]
) -> None:
    alice = await register_and_login(client)
    bob = await register_and_login(client, "bob@example.com")
    me = (await client.get("/auth/me", headers=bearer(alice["access_token"]))).json()
    await auth.set_user_disabled(me["id"], True)
    assert_inactive(await introspect(client, alice["access_token"], resource_server))
    assert_inactive(await introspect(client, alice["refresh_token"], resource_server))

    bob_id = (await client.get("/auth/me", headers=bearer(bob["access_token"]))).json()["id"]
    await auth.revoke_user_sessions(bob_id)
    assert_inactive(await introspect(client, bob["access_token"], resource_server))


async def test_roles_are_the_sessions_current_roles(
    client: httpx.AsyncClient, auth: SessionJWT, resource_server: tuple[str, str]
) -> None:
    tokens = await register_and_login(client)
    me = (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    await auth.set_user_roles(me["id"], ["admin"])
    body = active(await introspect(client, tokens["access_token"], resource_server))
    assert body["roles"] == ["admin"]


async def test_a_token_signed_by_another_deployment_is_inactive(
    client: httpx.AsyncClient,
    resource_server: tuple[str, str],
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    """Same issuer, audience and key algorithm, but another deployment's keys."""
    elsewhere = SessionJWT(make_settings(tmp_path / "elsewhere"), clock=clock)
    async with (
        elsewhere,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(auth=elsewhere)), base_url="http://x"
        ) as other,
    ):
        foreign = await register_and_login(other)
    assert_inactive(await introspect(client, foreign["access_token"], resource_server))
    assert_inactive(await introspect(client, foreign["refresh_token"], resource_server))


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "a.b", "x" * 100_000])
async def test_garbage_is_inactive_or_invalid_request(
    client: httpx.AsyncClient, resource_server: tuple[str, str], token: str
) -> None:
    response = await introspect(client, token, resource_server)
    if token and len(token) < 10_000:
        assert_inactive(response)
    elif len(token) > 16_384:  # a body past the service's limit, refused before parsing
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "request_too_large"
    else:  # empty (absent): the request itself is wrong
        assert_oauth_error(response, 400, "invalid_request")


async def test_the_hint_is_only_a_hint(
    client: httpx.AsyncClient, resource_server: tuple[str, str]
) -> None:
    """RFC 7662 §2.1: a wrong or unknown hint must not hide the token."""
    tokens = await register_and_login(client)
    for hint in ("refresh_token", "id_token", "whatever"):
        active(
            await introspect(client, tokens["access_token"], resource_server, token_type_hint=hint)
        )
    refreshed = await introspect(
        client, tokens["refresh_token"], resource_server, token_type_hint="access_token"
    )
    assert active(refreshed)["token_type"] == "refresh_token"


# -- refresh tokens ------------------------------------------------------------------------


async def test_refresh_token_introspection_does_not_rotate_it(
    client: httpx.AsyncClient, resource_server: tuple[str, str], auth: SessionJWT
) -> None:
    tokens = await register_and_login(client)
    body = active(await introspect(client, tokens["refresh_token"], resource_server))
    assert body["token_type"] == "refresh_token"
    assert body["sid"] == tokens["session_id"]
    assert body["username"] == "alice@example.com"
    assert body["iss"] == ISSUER
    assert tokens["refresh_token"].split(".")[1] not in str(body)  # the secret is never echoed
    active(await introspect(client, tokens["refresh_token"], resource_server))  # twice: same

    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text  # it was not rotated by looking at it
    successor = refreshed.json()["refresh_token"]
    active(await introspect(client, successor, resource_server))
    # The predecessor is no longer current: not active, even inside the concurrent-refresh grace.
    assert_inactive(await introspect(client, tokens["refresh_token"], resource_server))


async def test_refresh_token_of_an_idle_session_is_inactive(
    client: httpx.AsyncClient,
    resource_server: tuple[str, str],
    clock: ManualClock,
    settings: Settings,
) -> None:
    tokens = await register_and_login(client)
    clock.advance(settings.session_idle_timeout.total_seconds() + 1)
    assert_inactive(await introspect(client, tokens["refresh_token"], resource_server))


# -- failure modes -------------------------------------------------------------------------


async def test_store_outage_is_503_never_an_answer(
    client: httpx.AsyncClient,
    auth: SessionJWT,
    resource_server: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Neither active:true (a revoked user let in) nor active:false (a live one thrown out)."""
    tokens = await register_and_login(client)

    async def unavailable(_session_id: str) -> None:
        raise StoreUnavailable()

    monkeypatch.setattr(auth.session_store, "load", unavailable)
    auth.cache.clear()  # nothing warm to answer from
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = await introspect(client, token, resource_server)
        assert_oauth_error(response, 503, "store_unavailable")
        assert response.headers["retry-after"] == "1"


async def test_introspection_is_rate_limited_per_ip(
    tmp_path: Path, clock: ManualClock, backend: dict[str, object]
) -> None:
    settings = make_settings(tmp_path, **backend, introspect_rate_limit_ip="2/minute")
    async with SessionJWT(settings, clock=clock) as auth:
        created = await auth.create_client("chatty-api")
        credentials = (created.record.client_id, created.secret)
        transport = httpx.ASGITransport(app=create_app(auth=auth), client=("198.51.100.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for _ in range(2):
                assert_inactive(await introspect(http, "unknown", credentials))
            limited = await introspect(http, "unknown", credentials)
    assert_oauth_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1


async def test_metadata_and_openapi_describe_the_endpoints(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert metadata["revocation_endpoint_auth_methods_supported"] == [
        "none",
        "client_secret_basic",
        "client_secret_post",
    ]
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/oauth/introspect", "/oauth/revoke"):
        body = paths[path]["post"]["requestBody"]["content"]
        assert body["application/x-www-form-urlencoded"]["schema"]["required"] == ["token"]
