"""Attacks through the OAuth endpoints: a token that is not genuine never revokes the session it
names, and never introspects as active, even when it names a real, live session.

The attacker knows the victim's session id and user id (both are in the victim's access token,
which anyone who saw it can read) and forges tokens around them.
"""

from __future__ import annotations

import logging
import secrets

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sessionjwt import SessionJWT
from sessionjwt.keys.ring import SigningKey
from tests.attacks import forge
from tests.attacks.expect import Victim
from tests.conftest import bearer
from tests.oauth import assert_inactive, assert_oauth_error, introspect, revoke


@pytest.fixture
async def resource_server(auth: SessionJWT) -> tuple[str, str]:
    created = await auth.create_client("orders-api")
    return created.record.client_id, created.secret


def forgeries(victim: Victim, ours: SigningKey) -> dict[str, str]:
    """Tokens naming the victim's real session, none of them signed by a key we published."""
    header = forge.segment(forge.server_header(ours))
    payload = victim.payload_segment
    attacker_key = Ed25519PrivateKey.generate()
    return {
        "signed by the attacker's own key under our kid": forge.sign(
            "EdDSA", attacker_key, header, payload
        ),
        "alg none": forge.segment({"alg": "none", "kid": ours.kid, "typ": "at+jwt"})
        + f".{payload}.",
        "the victim's signature on an altered payload": ".".join(
            (
                victim.header_segment,
                forge.segment({**victim.claims, "exp": victim.claims["exp"] + 86_400}),
                victim.signature_segment,
            )
        ),
        "a guessed refresh secret for the real session id": (
            f"{victim.session_id}.{secrets.token_urlsafe(32)}"
        ),
    }


async def assert_victim_unharmed(client: httpx.AsyncClient, victim: Victim) -> None:
    assert (await client.get("/auth/me", headers=bearer(victim.access_token))).status_code == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert refreshed.status_code == 200, refreshed.text


async def test_forged_tokens_with_a_real_session_id_introspect_inactive(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    resource_server: tuple[str, str],
) -> None:
    for name, token in forgeries(victim, ours).items():
        response = await introspect(client, token, resource_server)
        assert response.json() == {"active": False}, name
        assert_inactive(response)
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize("authenticated", [False, True])
async def test_forged_tokens_with_a_real_session_id_revoke_nothing(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    resource_server: tuple[str, str],
    authenticated: bool,
) -> None:
    """200 as RFC 7009 says for an invalid token, and the session is exactly as it was."""
    for name, token in forgeries(victim, ours).items():
        for hint in ("access_token", "refresh_token"):
            response = await revoke(
                client,
                token,
                resource_server if authenticated else None,
                token_type_hint=hint,
            )
            assert response.status_code == 200, (name, response.text)
    await assert_victim_unharmed(client, victim)


async def test_someone_elses_client_secret_does_not_authenticate(
    client: httpx.AsyncClient, auth: SessionJWT, victim: Victim
) -> None:
    """Two registered clients: A's id with B's secret is refused."""
    a = await auth.create_client("a")
    b = await auth.create_client("b")
    response = await introspect(client, victim.access_token, (a.record.client_id, b.secret))
    assert_oauth_error(response, 401, "invalid_client")


async def test_client_secrets_appear_in_no_log_line_and_no_error(
    client: httpx.AsyncClient, auth: SessionJWT, victim: Victim, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        created = await auth.create_client("logged-api")
        wrong = (created.record.client_id, created.secret + "x")
        refused = await introspect(client, victim.access_token, wrong)
        await auth.delete_client(created.record.client_id)
    assert created.secret not in caplog.text
    assert created.secret not in refused.text
    assert created.secret not in repr(created)
