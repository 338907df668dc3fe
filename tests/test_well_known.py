"""The JWKS and the RFC 8414 metadata that other services read to trust our tokens."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.server.app import create_app
from tests.conftest import AUDIENCE, ISSUER, make_settings, register_and_login

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def test_jwks_verifies_our_tokens_and_is_cacheable(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    tokens = await register_and_login(client)
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    max_age = int(auth.settings.key_publish_ahead.total_seconds() // 4)
    assert response.headers["cache-control"] == f"public, max-age={max_age}"
    jwks = jwt.PyJWKSet.from_dict(response.json())
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    key = next(key for key in jwks.keys if key.key_id == kid)
    claims = jwt.decode(
        tokens["access_token"],
        key.key,
        algorithms=[key.algorithm_name],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},  # the suite's clock is manual
    )
    assert claims["iss"] == ISSUER


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "PS256", "RS256", "HS256"])
async def test_jwks_never_carries_private_or_hmac_material(
    algorithm: str, tmp_path: Path, clock: ManualClock
) -> None:
    """Whatever the algorithm, the published set holds public members only; an HMAC key,
    which is all secret, is not published at all."""
    auth = SessionJWT(make_settings(tmp_path, signing_algorithm=algorithm), clock=clock)
    async with (
        auth,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(auth=auth)), base_url="http://testserver"
        ) as http,
    ):
        published = (await http.get("/.well-known/jwks.json")).json()["keys"]
        ring = list(auth.key_ring())
    assert ring, "the ring is never empty"
    if algorithm == "HS256":
        assert published == []
        return
    assert {key["kid"] for key in published} == {key.kid for key in ring}
    for jwk in published:
        assert PRIVATE_JWK_MEMBERS.isdisjoint(jwk), sorted(jwk)
        assert jwk["alg"] == algorithm and jwk["use"] == "sig"


async def test_metadata_names_the_issuer_and_its_endpoints(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == ISSUER
    base = ISSUER.rstrip("/")
    assert metadata["jwks_uri"] == base + "/.well-known/jwks.json"
    assert metadata["introspection_endpoint"] == base + "/oauth/introspect"
    assert metadata["revocation_endpoint"] == base + "/oauth/revoke"
    assert metadata["access_token_signing_alg_values_supported"] == ["EdDSA"]
