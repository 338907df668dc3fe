"""RFC 7009 revocation: the RFC's example, then what each kind of token does to its session.

A genuine access or refresh token ends its session (audited, announced like a logout);
anything else is answered 200 and changes nothing (RFC 7009 §2.2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings, StoreUnavailable
from sessionjwt.server.app import create_app
from tests.conftest import bearer, make_settings, register_and_login
from tests.oauth import (
    FORM,
    RFC_BASIC,
    assert_oauth_error,
    register_rfc_client,
    revoke,
)


async def me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    return await client.get("/auth/me", headers=bearer(tokens["access_token"]))


async def assert_revoked(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    refused = await me(client, tokens)
    assert refused.status_code == 401 and refused.json()["error"] == "session_revoked"
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "session_revoked"


async def assert_live(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    assert (await me(client, tokens)).status_code == 200


def assert_ok(response: httpx.Response) -> None:
    """RFC 7009 §2.2: 200, and the content of the body is ignored by the client: we send none."""
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"


# -- RFC 7009 §2.1, verbatim ---------------------------------------------------------------


async def test_rfc7009_example_request_for_a_token_we_never_issued_is_200(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    await register_rfc_client(auth)
    response = await client.post(
        "/oauth/revoke",
        content=b"token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token",
        headers={**FORM, "Authorization": RFC_BASIC},
    )
    assert_ok(response)


async def test_rfc7009_example_request_from_an_unregistered_client_is_401(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/oauth/revoke",
        content=b"token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token",
        headers={**FORM, "Authorization": RFC_BASIC},
    )
    assert_oauth_error(response, 401, "invalid_client")


# -- genuine tokens end their session ------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "something_else"])
async def test_a_public_client_revokes_its_session_with_either_token(
    client: httpx.AsyncClient, kind: str, hint: str | None
) -> None:
    """Whatever the hint says (RFC 7009 §2.1: the server searches every type)."""
    tokens = await register_and_login(client)
    await assert_live(client, tokens)  # warm: the refusal must come from the revoke itself
    fields = {"token_type_hint": hint} if hint else {}
    assert_ok(await revoke(client, tokens[kind], None, **fields))
    await assert_revoked(client, tokens)


async def test_other_sessions_of_the_user_live_on(client: httpx.AsyncClient) -> None:
    phone = await register_and_login(client)
    laptop = await register_and_login(client, register=False)
    assert_ok(await revoke(client, phone["refresh_token"]))
    await assert_revoked(client, phone)
    await assert_live(client, laptop)


async def test_a_revoke_is_audited_with_who_asked(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    created = await auth.create_client("gateway")
    credentials = (created.record.client_id, created.secret)
    by_user = await register_and_login(client)
    by_client = await register_and_login(client, register=False)
    assert_ok(await revoke(client, by_user["access_token"]))
    assert_ok(await revoke(client, by_client["refresh_token"], credentials))

    events = {event.session_id: event for event in await auth.audit.query(event="session_revoked")}
    user_id = (await auth.users.require_by_email("alice@example.com")).id
    assert events[by_user["session_id"]].actor == user_id
    assert events[by_client["session_id"]].actor == f"client:{created.record.client_id}"
    for session_id in (by_user["session_id"], by_client["session_id"]):
        assert events[session_id].detail == {"reason": "oauth_revoke"}


async def test_an_old_refresh_token_of_the_chain_revokes_too(client: httpx.AsyncClient) -> None:
    """Replaying it at /auth/refresh would revoke the session anyway: this grants nothing."""
    first = await register_and_login(client)
    second = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert_ok(await revoke(client, first["refresh_token"]))
    await assert_revoked(client, second)


# -- everything else is 200 and changes nothing --------------------------------------------


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "a" * 32 + "." + "b" * 43, "x" * 5000])
async def test_unknown_and_invalid_tokens_are_200_and_change_nothing(
    client: httpx.AsyncClient, token: str
) -> None:
    tokens = await register_and_login(client)
    assert_ok(await revoke(client, token))
    await assert_live(client, tokens)


async def test_revoking_twice_is_200_both_times(client: httpx.AsyncClient) -> None:
    tokens = await register_and_login(client)
    assert_ok(await revoke(client, tokens["access_token"]))
    assert_ok(await revoke(client, tokens["access_token"]))
    assert_ok(await revoke(client, tokens["refresh_token"]))
    await assert_revoked(client, tokens)


async def test_an_expired_access_token_no_longer_revokes(
    client: httpx.AsyncClient, clock: ManualClock, settings: Settings
) -> None:
    """Only a token that would be accepted now carries the authority to end its session; the
    holder of an expired one still has the refresh token for that."""
    tokens = await register_and_login(client)
    clock.advance((settings.access_token_ttl + settings.leeway).total_seconds())
    assert_ok(await revoke(client, tokens["access_token"]))
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


# -- client authentication, when presented, must be right ----------------------------------


async def test_wrong_client_credentials_are_401_and_revoke_nothing(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    created = await auth.create_client("gateway")
    tokens = await register_and_login(client)
    wrong = (created.record.client_id, "not-the-secret")
    assert_oauth_error(await revoke(client, tokens["access_token"], wrong), 401, "invalid_client")
    await assert_live(client, tokens)


async def test_our_public_client_id_alone_is_accepted_any_other_is_not(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    tokens = await register_and_login(client)
    registered = await auth.create_client("gateway")
    for impostor in ("someone-else", registered.record.client_id):  # confidential: no secret
        response = await revoke(client, tokens["access_token"], client_id=impostor)
        assert_oauth_error(response, 401, "invalid_client")
    await assert_live(client, tokens)
    assert_ok(await revoke(client, tokens["access_token"], client_id=auth.settings.client_id))
    await assert_revoked(client, tokens)


async def test_a_missing_token_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/revoke", data={"token_type_hint": "access_token"})
    assert_oauth_error(response, 400, "invalid_request")


# -- failure modes -------------------------------------------------------------------------


async def test_store_outage_is_503_not_a_false_200(
    client: httpx.AsyncClient, auth: SessionJWT, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 7009 §2.2.1: 503 tells the client to retry; a 200 would claim a revoke that did
    not happen."""
    tokens = await register_and_login(client)

    async def unavailable(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable()

    monkeypatch.setattr(auth.session_store, "revoke", unavailable)
    monkeypatch.setattr(auth.session_store, "load", unavailable)
    for kind in ("access_token", "refresh_token"):
        response = await revoke(client, tokens[kind])
        assert_oauth_error(response, 503, "store_unavailable")
        assert response.headers["retry-after"] == "1"


async def test_revocation_is_rate_limited_per_ip(
    tmp_path: Path, clock: ManualClock, backend: dict[str, object]
) -> None:
    settings = make_settings(tmp_path, **backend, revoke_rate_limit_ip="2/minute")
    async with SessionJWT(settings, clock=clock) as auth:
        transport = httpx.ASGITransport(app=create_app(auth=auth), client=("198.51.100.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for _ in range(2):
                assert_ok(await revoke(http, "unknown"))
            limited = await revoke(http, "unknown")
    assert_oauth_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
