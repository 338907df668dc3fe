"""Signing keys: encrypted at rest under a master key kept outside the database."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from sessionjwt import ConfigurationError, ManualClock, SessionJWT, Settings
from sessionjwt.db.tables import signing_keys
from sessionjwt.keys.subkeys import load_or_create_master_key
from tests.conftest import AUDIENCE, ISSUER, PASSWORD, make_settings


def test_master_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "master.key"
    first = load_or_create_master_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert load_or_create_master_key(path) == first


def test_master_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    load_or_create_master_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_or_create_master_key(path)


def test_master_key_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(base64.urlsafe_b64encode(b"short"))
    os.chmod(path, 0o600)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_or_create_master_key(path)


async def test_private_key_is_not_stored_in_clear(tmp_path: Path, clock: ManualClock) -> None:
    async with SessionJWT(make_settings(tmp_path), clock=clock) as auth:
        key = auth.key_ring().active
        private_der = key.signing_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        raw = key.signing_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        async with auth.database.read() as connection:
            blob = (
                await connection.execute(
                    select(signing_keys.c.private_key_encrypted).where(
                        signing_keys.c.kid == key.kid
                    )
                )
            ).scalar_one()
    assert private_der not in blob and raw not in blob
    assert raw not in (tmp_path / "sessionjwt.db").read_bytes()


async def test_a_different_master_key_cannot_open_the_keys(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with SessionJWT(make_settings(tmp_path), clock=clock):
        pass
    (tmp_path / "master.key").unlink()
    with pytest.raises(ConfigurationError, match="wrong master key"):
        async with SessionJWT(make_settings(tmp_path), clock=clock):
            pass


async def test_keys_survive_a_restart_so_tokens_stay_valid(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with SessionJWT(make_settings(tmp_path), clock=clock) as first:
        await first.register("alice@example.com", PASSWORD)
        pair = await first.login("alice@example.com", PASSWORD)
    async with SessionJWT(make_settings(tmp_path), clock=clock) as second:
        principal = await second.check(pair.access_token)
    assert principal.email == "alice@example.com"


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "PS256", "RS256", "HS256"])
async def test_each_supported_algorithm_signs_and_checks(
    tmp_path: Path, clock: ManualClock, algorithm: str
) -> None:
    settings = make_settings(tmp_path, signing_algorithm=algorithm)
    async with SessionJWT(settings, clock=clock) as auth:
        await auth.register("alice@example.com", PASSWORD)
        pair = await auth.login("alice@example.com", PASSWORD)
        header = jwt.get_unverified_header(pair.access_token)
        assert header["alg"] == algorithm
        assert header["typ"] == "at+jwt"
        assert (await auth.check(pair.access_token)).email == "alice@example.com"
        jwks = auth.key_ring().public_jwks()["keys"]
        if algorithm == "HS256":
            assert jwks == []  # a shared secret is never published
            return
        # The signer and its published successor; the token names the signer.
        assert header["kid"] == auth.key_ring().active.kid
        assert {entry["kid"] for entry in jwks} == {key.kid for key in auth.key_ring()}
        signer = next(entry for entry in jwks if entry["kid"] == header["kid"])
        assert "d" not in signer
        # An independent verifier with only the public JWK accepts the token.
        public_key = jwt.PyJWK(signer).key
        claims = jwt.decode(
            pair.access_token,
            public_key,
            algorithms=[algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims["sid"] == pair.session_id


async def test_instances_starting_together_on_an_empty_store_share_one_signing_key(
    settings: Settings, clock: ManualClock
) -> None:
    """A fresh deployment's instances race to make the first key; they must agree on one,
    or a token signed on one instance is refused by the others."""
    services = [SessionJWT(settings, clock=clock) for _ in range(4)]
    try:
        await asyncio.gather(*(service.start() for service in services))
        await services[0].register("race@example.com", PASSWORD)
        tokens = [
            (await service.login("race@example.com", PASSWORD)).access_token for service in services
        ]
        for service in services:
            for token in tokens:
                await service.check(token)
        async with services[0].database.read() as connection:
            rows = await connection.execute(
                select(signing_keys.c.kid).where(signing_keys.c.state == "active")
            )
            assert len(rows.all()) == 1
    finally:
        await asyncio.gather(*(service.close() for service in services))


def test_identifiers_operators_type_never_look_like_options() -> None:
    """One raw base64url draw in 64 starts with '-', which a command line reads as an option
    (`sessionjwt keys retire -dNx…`): kids, session ids and client ids never do."""
    from sessionjwt.identifiers import new_identifier
    from sessionjwt.keys.ring import new_kid
    from sessionjwt.tokens.refresh_token import new_session_id

    drawn = [make() for make in (new_kid, new_session_id) for _ in range(3000)]
    drawn += [new_identifier(16) for _ in range(3000)]
    assert not [value for value in drawn if value.startswith("-")]
    assert len(set(drawn)) == len(drawn)
