"""Psychic signatures (CVE-2022-21449): an ECDSA signature with r = s = 0 verifies against
every message under a verifier that forgets to check 0 < r, s < n.

This file runs an ES256 service. The forged tokens carry the victim's own claims under our
kid and ``alg: ES256``, so the signature check is the only thing that can refuse them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sessionjwt import Settings
from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import Victim, assert_attack_refused, assert_signed_in
from tests.attacks.forge import b64url, segment, server_header, sign_as_server
from tests.conftest import make_settings

# The order n of the P-256 group: r = s = n is r = s = 0 in disguise.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object]) -> Settings:
    return make_settings(tmp_path, signing_algorithm="ES256", **backend)


def raw(r: int, s: int) -> bytes:
    """JWS form of an ECDSA signature (RFC 7518 §3.4): r and s, 32 bytes each."""
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(raw(0, 0), id="raw-64-zero-bytes"),
        pytest.param(encode_dss_signature(0, 0), id="der-r-s-zero"),
        pytest.param(raw(P256_ORDER, P256_ORDER), id="raw-r-s-n"),
        pytest.param(encode_dss_signature(P256_ORDER, P256_ORDER), id="der-r-s-n"),
        pytest.param(raw(0, 1), id="raw-r-zero-s-one"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_psychic_signature(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, signature: bytes
) -> None:
    assert ours.alg == "ES256"
    assert victim.header_segment == segment(server_header(ours))  # our header, our kid
    forged = victim.spliced(signature=b64url(signature))

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_psychic_signature_on_an_escalated_payload(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    payload = segment({**victim.claims, "exp": victim.claims["exp"] + 365 * 86400})
    forged = f"{victim.header_segment}.{payload}.{b64url(raw(0, 0))}"

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_a_genuine_es256_signature_is_accepted(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """Guards the refusals above against vacuity: this service really signs and verifies
    ES256, and a token re-signed with its key passes."""
    assert isinstance(ours.signing_key, ec.EllipticCurvePrivateKey)
    assert len(victim.signature_segment) == 86  # 64 bytes: the raw JWS form
    token = sign_as_server(ours, victim.header_segment, victim.payload_segment)

    await assert_signed_in(client, victim, token)


async def test_der_encoded_genuine_signature_is_refused(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """JWS wants raw r‖s; a DER signature (even a genuine one) is a different encoding that
    lenient verifiers accept, which makes tokens malleable."""
    signing_input = f"{victim.header_segment}.{victim.payload_segment}".encode()
    der = ours.signing_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    forged = victim.spliced(signature=b64url(der))

    await assert_attack_refused(client, victim, forged, because="signature is invalid")
