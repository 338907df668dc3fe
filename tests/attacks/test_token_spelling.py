"""One token, one spelling (issue 18, item 5): a second string for the same token is refused.

``<token>==`` decodes to the same bytes as ``<token>``, and so does a segment whose last
character has its unused bits set; an ECDSA signature ``(r, s)`` verifies as ``(r, n - s)`` too.
Each would be a second string for one token, past the verified-token memo and anyone who tracks
tokens by their string. Every respelling below decodes (or verifies) exactly like the victim's
real token, is refused as ``invalid_token`` everywhere a token is read — a protected route,
``/oauth/introspect``, ``/oauth/revoke`` and the resource-server SDK — and harms nobody.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sessionjwt import SessionJWT, Settings
from sessionjwt.errors import InvalidToken
from sessionjwt.keys.ring import SigningKey
from sessionjwt.resource_server import ResourceServer
from sessionjwt.tokens.canonical import is_canonical_segment
from tests.attacks import forge
from tests.attacks.expect import Victim, assert_attack_refused, assert_victim_unharmed
from tests.attacks.forge import P256_ORDER, b64url, unb64url
from tests.conftest import bearer, make_settings, register_and_login
from tests.oauth import assert_inactive, introspect, revoke
from tests.resource_server.conftest import config_for
from tests.resource_server.fake_issuer import FakeIssuer

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(params=["EdDSA", "ES256"])
def signing_algorithm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object], signing_algorithm: str) -> Settings:
    return make_settings(tmp_path, signing_algorithm=signing_algorithm, **backend)


@pytest.fixture
async def resource_server(auth: SessionJWT) -> tuple[str, str]:
    created = await auth.create_client("orders-api")
    return created.record.client_id, created.secret


def split_signature(signature_segment: str) -> tuple[int, int]:
    """``(r, s)`` of a raw JWS ES256 signature (RFC 7518 §3.4)."""
    raw = unb64url(signature_segment)
    assert len(raw) == 64
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


def high_s_twin(token: str) -> str:
    """The same ES256 token with ``s`` replaced by ``n - s``: mathematically just as valid."""
    header, payload, signature = forge.split(token)
    r, s = split_signature(signature)
    twin = r.to_bytes(32, "big") + (P256_ORDER - s).to_bytes(32, "big")
    return f"{header}.{payload}.{b64url(twin)}"


def unused_bits_set(token: str) -> str:
    """The token with the lowest unused bit of its signature's last character set."""
    header, payload, signature = forge.split(token)
    assert len(signature) % 4 in (2, 3), "a 64-byte signature ends in a partial character"
    last = ALPHABET[ALPHABET.index(signature[-1]) ^ 1]
    respelled = f"{header}.{payload}.{signature[:-1]}{last}"
    assert unb64url(forge.split(respelled)[2]) == unb64url(signature), "same bytes decoded"
    return respelled


def respellings(token: str, alg: str) -> dict[str, str]:
    """Other strings for exactly ``token``: each decodes to the same header, payload and
    signature bytes, or (high-S) carries a signature that verifies just the same."""
    spellings = {"padding ==": token + "==", "unused bits set": unused_bits_set(token)}
    if alg == "ES256":
        spellings["high-S twin"] = high_s_twin(token)
    return spellings


async def test_respellings_are_refused_at_a_protected_route(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """The real token is already in the verified-token memo (the fixture used it): the
    respellings must not ride on it."""
    for token in respellings(victim.access_token, ours.alg).values():
        await assert_attack_refused(client, victim, token, because="signature is invalid")


@pytest.mark.parametrize("signing_algorithm", ["ES256"])
async def test_the_high_s_twin_is_a_valid_ecdsa_signature_and_still_refused(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """Guards the refusal against vacuity: ``(r, n - s)`` verifies under our public key, so
    only the low-S rule stands between it and a second accepted string."""
    twin = high_s_twin(victim.access_token)
    header, payload, signature = forge.split(twin)
    r, s = split_signature(signature)
    assert s > P256_ORDER // 2
    ours.verifying_key.verify(
        encode_dss_signature(r, s), f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256())
    )
    await assert_attack_refused(client, victim, twin, because="signature is invalid")


async def test_respellings_introspect_inactive(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, resource_server: tuple[str, str]
) -> None:
    real = await introspect(client, victim.access_token, resource_server)
    assert real.json()["active"] is True
    for name, token in respellings(victim.access_token, ours.alg).items():
        response = await introspect(client, token, resource_server)
        assert response.json() == {"active": False}, name
        assert_inactive(response)


async def test_respellings_revoke_nothing(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, resource_server: tuple[str, str]
) -> None:
    """RFC 7009 §2.2: 200 for an invalid token too; the session lives on. The real spelling
    does revoke it, so the endpoint was listening."""
    for name, token in respellings(victim.access_token, ours.alg).items():
        for credentials in (None, resource_server):
            response = await revoke(client, token, credentials)
            assert response.status_code == 200, (name, response.text)
            await assert_victim_unharmed(client, victim)
    assert (await revoke(client, victim.access_token, resource_server)).status_code == 200
    me = await client.get("/auth/me", headers=bearer(victim.access_token))
    assert me.status_code == 401 and me.json()["error"] == "session_revoked", me.text


@pytest.mark.parametrize("signing_algorithm", ["ES256"])
async def test_our_own_es256_tokens_are_all_low_s(client: httpx.AsyncClient) -> None:
    """``cryptography`` leaves ``s`` high about half the time; 200 tokens from logins and
    refreshes, every one low-S, means the signer normalises (all-low by chance: 2^-200)."""
    tokens: list[str] = []
    for login in range(20):
        pair = await register_and_login(client, f"low-s-{login}@example.com")
        tokens.append(pair["access_token"])
        for _ in range(9):
            refreshed = await client.post(
                "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            )
            assert refreshed.status_code == 200, refreshed.text
            pair = refreshed.json()
            tokens.append(pair["access_token"])
    assert len(tokens) == 200
    for token in tokens:
        assert forge.header_of(token)["alg"] == "ES256"
        assert all(is_canonical_segment(part) for part in forge.split(token))
        _, s = split_signature(forge.split(token)[2])
        assert 0 < s <= P256_ORDER // 2
    me = await client.get("/auth/me", headers=bearer(tokens[-1]))
    assert me.status_code == 200, me.text


async def test_a_refresh_token_has_one_spelling(client: httpx.AsyncClient, victim: Victim) -> None:
    """``<sid>.<secret>`` is compared as a string (its SHA-256), so a respelled secret is just a
    wrong secret: refused, and — not being a genuine ancestor — no theft alarm either."""
    session_id, secret = victim.refresh_token.split(".")
    assert len(secret) % 4 == 3  # 32 bytes: the last character has two unused bits
    flipped = secret[:-1] + ALPHABET[ALPHABET.index(secret[-1]) ^ 1]
    assert unb64url(flipped) == unb64url(secret)
    for token in (victim.refresh_token + "==", f"{session_id}.{flipped}"):
        response = await client.post("/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token", response.text
    await assert_victim_unharmed(client, victim)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert refreshed.status_code == 200, refreshed.text


async def test_an_api_key_has_one_spelling(client: httpx.AsyncClient, victim: Victim) -> None:
    """Base62 of a fixed length with a checksum: padding makes it another, refused, string."""
    created = await client.post(
        "/auth/api-keys", json={"name": "ci"}, headers=bearer(victim.access_token)
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert (await client.get("/auth/me", headers=bearer(key))).status_code == 200
    for respelled in (key + "==", key + "="):
        response = await client.get("/auth/me", headers=bearer(respelled))
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token", response.text
    assert (await client.get("/auth/me", headers=bearer(key))).status_code == 200


# -- the resource-server SDK, verifying through the issuer's published JWKS ---------------------


@pytest.fixture
def fake_issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer().running() as running:
        yield running


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
async def test_the_resource_server_refuses_respellings(fake_issuer: FakeIssuer, alg: str) -> None:
    if alg != fake_issuer.ring.active.alg:
        fake_issuer.rotate(alg)
    token = fake_issuer.token()
    async with ResourceServer(config_for(fake_issuer)) as rs:
        assert (await rs.verify(token)).sid == "sid-1"  # now in the SDK's verified memo
        for name, respelled in respellings(token, alg).items():
            with pytest.raises(InvalidToken):
                await rs.verify(respelled)
                pytest.fail(f"the resource server accepted the {name} spelling")
        await rs.verify(token)


@pytest.mark.parametrize(
    "segment",
    ["", "AA", "AAA", "AAAA", "AQ", "AAE", "_w", "ab-_Ag", "ab-_c08"],
)
def test_canonical_segments_are_accepted(segment: str) -> None:
    assert is_canonical_segment(segment)
    assert b64url(unb64url(segment)) == segment


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param("AA==", id="padding"),
        pytest.param("AAA=", id="one-pad"),
        pytest.param("AB", id="unused-bits-of-2"),
        pytest.param("AAB", id="unused-bits-of-3"),
        pytest.param("A", id="length-1-mod-4"),
        pytest.param("ab+c", id="standard-alphabet-plus"),
        pytest.param("ab/c", id="standard-alphabet-slash"),
        pytest.param("ab~c", id="tilde"),
        pytest.param("ab c", id="space"),
        pytest.param("abc\n", id="newline"),
        pytest.param("abcé", id="non-ascii"),
    ],
)
def test_non_canonical_segments_are_refused(segment: str) -> None:
    assert not is_canonical_segment(segment)
