"""Our live access tokens, verified through the JWKS URL by libraries we did not write.

Each verifier fetches ``/.well-known/jwks.json`` from a running ``sessionjwt serve`` and must
accept the live token with the expected issuer and audience, and refuse the same token with one
payload character flipped and the same token re-labelled ``alg: none``. Run for EdDSA (the
default) and ES256.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt
from jwcrypto.common import JWException

from sessionjwt.errors import InvalidToken
from sessionjwt.resource_server import ResourceServer, ResourceServerConfig
from tests.interop.conftest import AUDIENCE, ISSUER, ServedIssuer, jwks_document
from tests.interop.tampering import hostile_variants

LIVE_CLAIMS = {"iss", "aud", "sub", "sid", "jti", "iat", "exp", "client_id", "roles"}


def test_pyjwt_pyjwkclient(served: ServedIssuer) -> None:
    client = jwt.PyJWKClient(served.jwks_url, cache_keys=True)

    def decode(token: str) -> dict[str, Any]:
        key = client.get_signing_key_from_jwt(token)
        assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[served.algorithm],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
        return claims

    claims = decode(served.access_token)
    assert LIVE_CLAIMS <= claims.keys()
    for name, token in hostile_variants(served.access_token).items():
        with pytest.raises(jwt.InvalidTokenError):
            decode(token)
            pytest.fail(f"PyJWT accepted the {name} token")
    with pytest.raises(jwt.InvalidIssuerError):
        key = client.get_signing_key_from_jwt(served.access_token)
        jwt.decode(
            served.access_token,
            key.key,
            algorithms=[served.algorithm],
            issuer="https://someone.else",
            audience=AUDIENCE,
        )


def test_jwcrypto(served: ServedIssuer) -> None:
    keyset = jwcrypto_jwk.JWKSet.from_json(
        httpx.get(served.jwks_url, timeout=5, trust_env=False).text
    )

    def decode(token: str) -> jwcrypto_jwt.JWT:
        return jwcrypto_jwt.JWT(
            jwt=token,
            key=keyset,
            algs=[served.algorithm],
            check_claims={"iss": ISSUER, "aud": AUDIENCE, "exp": None, "sub": None},
        )

    verified = decode(served.access_token)
    assert verified.token.jose_header["typ"] == "at+jwt"
    assert verified.token.jose_header["alg"] == served.algorithm
    assert LIVE_CLAIMS <= json.loads(verified.claims).keys()
    for name, token in hostile_variants(served.access_token).items():
        with pytest.raises((JWException, ValueError)):
            decode(token)
            pytest.fail(f"jwcrypto accepted the {name} token")


def test_node_jose(served: ServedIssuer, node_verifier: Any) -> None:
    results = node_verifier(
        served, {"live": served.access_token, **hostile_variants(served.access_token)}
    )
    assert results["live"]["ok"], results["live"]
    assert results["live"]["alg"] == served.algorithm
    assert LIVE_CLAIMS <= results["live"]["payload"].keys()
    assert results["tampered"] == {"ok": False, "code": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"}
    assert results["alg_none"]["ok"] is False, results["alg_none"]
    # jose refuses the wrong issuer too (the check is not a formality)
    wrong = node_verifier(served, {"live": served.access_token}, issuer="https://someone.else")
    assert wrong["live"] == {"ok": False, "code": "ERR_JWT_CLAIM_VALIDATION_FAILED"}


def test_node_jose_verifies_a_client_credentials_token(
    served: ServedIssuer, node_verifier: Any
) -> None:
    results = node_verifier(
        served, {"live": served.client_token, **hostile_variants(served.client_token)}
    )
    assert results["live"]["ok"], results["live"]
    payload = results["live"]["payload"]
    assert payload["client_id"] == payload["sub"] == served.client_id
    assert payload["scope"] == "orders:read"
    assert results["tampered"]["ok"] is False and results["alg_none"]["ok"] is False


async def test_our_resource_server(served: ServedIssuer) -> None:
    """Our own SDK, through the same URL: same answers, the issuer's exact refusal codes."""
    published = jwks_document(served)["keys"]
    assert {key["alg"] for key in published} == {served.algorithm}
    config = ResourceServerConfig(
        issuer=ISSUER,
        audience=AUDIENCE,
        client_id="unused-here",
        client_secret="unused-here",
        jwks_url=served.jwks_url,
    )
    async with ResourceServer(config) as rs:
        claims = await rs.verify(served.access_token)
        assert claims.iss == ISSUER and claims.aud == AUDIENCE
        client_claims = await rs.verify(served.client_token)
        assert client_claims.client_id == client_claims.sub == served.client_id
        assert client_claims.scope == ("orders:read",)
        for token in hostile_variants(served.access_token).values():
            with pytest.raises(InvalidToken):
                await rs.verify(token)
