"""Nested JWTs (``cty: JWT``) and JWE-shaped tokens: this service accepts exactly one compact
JWS whose payload is the claims object, never a token wrapped in another, never an encrypted
one (which it could not verify and must not try to decrypt)."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import Victim, assert_attack_refused
from tests.attacks.forge import b64url, segment, server_header, sign, sign_as_server


async def test_victims_token_nested_in_a_jws_signed_by_the_attacker(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """The outer signature is the attacker's; the inner, genuine token must not vouch for it."""
    header = segment(server_header(ours, cty="JWT"))
    payload = b64url(victim.access_token.encode())
    forged = sign("EdDSA", ed25519.Ed25519PrivateKey.generate(), header, payload)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_nested_jwt_signed_by_us_is_not_unwrapped(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """Even correctly signed, the payload must be the claims object, not another token."""
    header = segment(server_header(ours, cty="JWT"))
    token = sign_as_server(ours, header, b64url(victim.access_token.encode()))

    await assert_attack_refused(client, victim, token, because="not UTF-8 JSON")


async def test_nested_jwt_as_a_json_string_signed_by_us(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    header = segment(server_header(ours, cty="JWT"))
    token = sign_as_server(ours, header, segment(victim.access_token))

    await assert_attack_refused(client, victim, token, because="not a JSON object")


JWE_HEADERS = [
    pytest.param({"alg": "dir", "enc": "A256GCM"}, id="dir-A256GCM"),
    pytest.param({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}, id="RSA-OAEP-nested"),
    pytest.param({"alg": "EdDSA", "enc": "A256GCM", "typ": "at+jwt"}, id="our-alg-with-enc"),
]


@pytest.mark.parametrize("jwe_header", JWE_HEADERS)
async def test_jwe_shaped_token(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, jwe_header: dict[str, str]
) -> None:
    """Five segments: protected header (naming our kid), encrypted key, IV, ciphertext, tag."""
    header = segment({**jwe_header, "kid": ours.kid})
    token = ".".join((header, "", b64url(b"\x00" * 12), victim.payload_segment, b64url(b"t" * 16)))

    await assert_attack_refused(client, victim, token, because="not a compact JWS")


async def test_jws_header_with_enc_signed_by_us(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """Three segments but a JWE member: ``enc`` changes nothing, the JWS is judged as signed
    (no decryption is attempted), so with our key and real claims it is the victim's token."""
    header = segment(server_header(ours, enc="A256GCM"))
    token = sign_as_server(ours, header, victim.payload_segment)
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.text
    assert response.json()["session_id"] == victim.session_id
