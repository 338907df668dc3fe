"""Algorithm confusion: an asymmetric key's public half used as an HMAC secret, and other
algorithms claimed under the server's ``kid``.

A naive verifier that takes ``alg`` from the header would check HS256 with "the key", i.e. with
bytes of the public key every client can read, and accept. Here the key pins its algorithm.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import Victim, assert_attack_refused
from tests.attacks.forge import b64url, segment, sign


def public_pem(key: SigningKey) -> bytes:
    return key.verifying_key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_der(key: SigningKey) -> bytes:
    return key.verifying_key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_raw(key: SigningKey) -> bytes:
    return key.verifying_key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def public_jwk_json(key: SigningKey) -> bytes:
    return json.dumps(key.public_jwk()).encode()


def signed_by_attacker(alg: str, attacker_key: object, ours: SigningKey, victim: Victim) -> str:
    """The victim's claims under our kid, claiming ``alg``, signed with the attacker's key."""
    header = segment({"alg": alg, "kid": ours.kid, "typ": "at+jwt"})
    return sign(alg, attacker_key, header, victim.payload_segment)


@pytest.mark.parametrize(
    "hmac_key_of",
    [
        pytest.param(public_pem, id="pem"),
        pytest.param(public_der, id="der-spki"),
        pytest.param(public_jwk_json, id="jwk-json"),
        pytest.param(public_raw, id="raw-32-bytes"),
    ],
)
async def test_hs256_keyed_with_our_public_key(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    hmac_key_of: Callable[[SigningKey], bytes],
) -> None:
    public_key_bytes = hmac_key_of(ours)
    header = segment({"alg": "HS256", "kid": ours.kid, "typ": "at+jwt"})
    payload = victim.payload_segment
    mac = hmac.new(public_key_bytes, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{b64url(mac)}"

    await assert_attack_refused(client, victim, forged, because="algorithm does not match its key")


async def test_our_public_key_material_is_what_the_attacker_thinks(ours: SigningKey) -> None:
    """Guards the test above against vacuity: the bytes used really are our public key."""
    assert ours.alg == "EdDSA"
    raw = public_raw(ours)
    assert len(raw) == 32
    assert ours.public_jwk() is not None
    assert json.loads(public_jwk_json(ours))["x"] == b64url(raw)
    loaded = serialization.load_pem_public_key(public_pem(ours))
    assert isinstance(loaded, ed25519.Ed25519PublicKey)
    assert loaded.public_bytes_raw() == raw
    assert serialization.load_der_public_key(public_der(ours)) == loaded


async def test_es256_under_our_kid_signed_by_the_attacker(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    attacker_key = ec.generate_private_key(ec.SECP256R1())
    forged = signed_by_attacker("ES256", attacker_key, ours, victim)

    await assert_attack_refused(client, victim, forged, because="algorithm does not match its key")


async def test_rs256_under_our_kid_signed_by_the_attacker(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = signed_by_attacker("RS256", attacker_key, ours, victim)

    await assert_attack_refused(client, victim, forged, because="algorithm does not match its key")


async def test_eddsa_under_our_kid_signed_by_the_attacker(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """The right algorithm with the wrong key: only the signature check can refuse it."""
    attacker_key = ed25519.Ed25519PrivateKey.generate()
    forged = signed_by_attacker("EdDSA", attacker_key, ours, victim)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")
