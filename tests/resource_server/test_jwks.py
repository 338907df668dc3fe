"""Keys come from the configured JWKS URL only, refetched on an unknown kid at most once per
floor; a token's ``jku``/``x5u``/``jwk`` is never followed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from jwt.algorithms import OKPAlgorithm

from sessionjwt.errors import InvalidToken, StoreUnavailable
from sessionjwt.keys.ring import KeyRing
from sessionjwt.resource_server import config as rs_config
from sessionjwt.resource_server.jwks import max_age, parse_jwks
from tests.attacks.forge import b64url, segment, split
from tests.resource_server.conftest import RSFactory, wait_until
from tests.resource_server.fake_issuer import CountingServer, FakeIssuer, make_key


def foreign_token(issuer: FakeIssuer, headers: dict[str, Any] | None = None) -> str:
    """A well-formed token for our issuer and audience, signed by a key nobody published."""
    stranger = make_key()
    payload = split(issuer.token())[1]
    header = segment({"alg": "EdDSA", "typ": "at+jwt", "kid": stranger.kid, **(headers or {})})
    signature = stranger.signing_key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64url(signature)}"


async def test_live_token_verifies_with_the_published_key(
    issuer: FakeIssuer, make_rs: RSFactory
) -> None:
    rs = await make_rs()
    claims = await rs.verify(issuer.token("u-1", "s-1"))
    assert (claims.sub, claims.sid) == ("u-1", "s-1")
    assert issuer.jwks_requests == 1


async def test_unknown_kid_refetches_at_most_once_per_floor(
    issuer: FakeIssuer, make_rs: RSFactory
) -> None:
    rs = await make_rs(jwks_refetch_floor=0.5)
    assert issuer.jwks_requests == 1  # the start-up fetch
    await asyncio.sleep(0.55)
    results = await asyncio.gather(
        *(rs.verify(foreign_token(issuer)) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(result, InvalidToken) for result in results), results
    assert issuer.jwks_requests == 2, "twenty unknown kids at once: one refetch"
    for _ in range(5):
        with pytest.raises(InvalidToken, match="unknown key"):
            await rs.verify(foreign_token(issuer))
    assert issuer.jwks_requests == 2, "within the floor: refused without a fetch"
    await asyncio.sleep(0.55)
    with pytest.raises(InvalidToken):
        await rs.verify(foreign_token(issuer))
    assert issuer.jwks_requests == 3


async def test_a_rotated_key_is_fetched_on_its_first_token(
    issuer: FakeIssuer, make_rs: RSFactory
) -> None:
    rs = await make_rs(jwks_refetch_floor=0.0)
    old_token = issuer.token()
    await rs.verify(old_token)
    issuer.rotate("ES256")
    new_token = issuer.token()
    claims = await rs.verify(new_token)
    assert claims.kid == issuer.ring.active.kid
    assert issuer.jwks_requests == 2
    await rs.verify(old_token)  # the retiring key still verifies


async def test_a_key_gone_from_the_jwks_stops_verifying_remembered_tokens(
    issuer: FakeIssuer, make_rs: RSFactory
) -> None:
    rs = await make_rs(jwks_refetch_floor=0.0)
    token = issuer.token()
    await rs.verify(token)  # remembered as verified
    issuer.ring = KeyRing([make_key()])  # the old key is retired: no longer published
    await rs.verify(issuer.token())  # unknown kid → refetch → new set
    with pytest.raises(InvalidToken, match="unknown key"):
        await rs.verify(token)


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk"])
async def test_token_naming_its_own_key_source_is_refused_and_never_followed(
    member: str, issuer: FakeIssuer, attacker: CountingServer, make_rs: RSFactory
) -> None:
    """CVE-class "jku/x5u header injection": the attacker publishes their own key and points
    the token at it. Nothing a token names is fetched; the kid is unknown; refused."""
    rs = await make_rs(jwks_refetch_floor=0.0)
    stranger = make_key()
    values: dict[str, Any] = {
        "jku": attacker.url + "/jwks.json",
        "x5u": attacker.url + "/cert.pem",
        "jwk": OKPAlgorithm.to_jwk(stranger.verifying_key, as_dict=True),
    }
    token = foreign_token(issuer, {member: values[member]})
    with pytest.raises(InvalidToken, match="unknown key"):
        await rs.verify(token)
    assert attacker.requests == 0
    assert issuer.jwks_requests == 2  # only ever the configured URL


async def test_unreachable_jwks_is_503_never_a_pass(issuer: FakeIssuer, make_rs: RSFactory) -> None:
    rs = await make_rs(jwks_url="http://127.0.0.1:9/jwks.json", jwks_refetch_floor=0.0)
    with pytest.raises(StoreUnavailable):
        await rs.verify(issuer.token())


async def test_periodic_refresh_follows_max_age(issuer: FakeIssuer, make_rs: RSFactory) -> None:
    issuer.jwks_max_age = 1
    await make_rs(jwks_refetch_floor=0.2)
    started = time.monotonic()
    await wait_until(lambda: issuer.jwks_requests >= 2)
    assert time.monotonic() - started >= 0.8


def test_parse_jwks_takes_only_public_asymmetric_keys_with_their_algorithm() -> None:
    good = make_key("ES256")
    jwk = good.public_jwk()
    assert jwk is not None
    hmac = {"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"}
    private = {**(make_key().public_jwk() or {}), "d": "AAAA", "kid": "p"}
    no_alg = {k: v for k, v in (make_key().public_jwk() or {}).items() if k != "alg"}
    wrong_alg = {**(make_key().public_jwk() or {}), "alg": "ES256", "kid": "w"}
    duplicated = make_key().public_jwk() or {}
    keys = parse_jwks({"keys": [jwk, hmac, private, no_alg, wrong_alg, duplicated, duplicated]})
    assert keys.kids == {good.kid}
    with pytest.raises(ValueError):
        parse_jwks({"keys": "nope"})


def test_max_age() -> None:
    assert max_age("public, max-age=300") == 300
    assert max_age("no-store") == 0
    assert max_age("public") is None
    assert max_age(None) is None


def test_default_paths_are_the_issuers() -> None:
    from sessionjwt.web import well_known

    assert rs_config.JWKS_PATH == well_known.JWKS_PATH
    assert rs_config.INTROSPECTION_PATH == well_known.INTROSPECTION_PATH
