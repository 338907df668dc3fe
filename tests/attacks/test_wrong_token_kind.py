"""The wrong kind of token, no token, or something that is not a token at all.

A refresh token is not an access token and vice versa; garbage and oversized values are refused
(the size before any parsing); the ``Authorization`` header must carry exactly one RFC 6750
``Bearer`` credential, with the scheme name matched case-insensitively (RFC 7235 §2.1).
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from sessionjwt import Settings
from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import (
    Victim,
    assert_attack_refused,
    assert_missing_token,
    assert_refused,
    assert_signed_in,
    assert_too_large,
    assert_victim_unharmed,
    attack,
)
from tests.attacks.forge import b64url, segment, server_header, sign_as_server, text_segment

# -- refresh token ↔ access token -------------------------------------------------------------


async def test_refresh_token_presented_as_a_bearer_token(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    await assert_attack_refused(client, victim, victim.refresh_token, because="not a compact JWS")


async def test_access_token_presented_to_the_refresh_endpoint(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": victim.access_token})

    assert_refused(response, because="not a refresh token")


async def test_access_token_presented_to_the_refresh_endpoint_mints_nothing(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": victim.access_token})

    assert response.status_code in (401, 422), response.text
    assert "access_token" not in response.json()
    await assert_victim_unharmed(client, victim)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert refreshed.status_code == 200, refreshed.text


async def test_short_jws_presented_to_the_refresh_endpoint(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """A correctly signed JWS that fits the body limit is refused as not a refresh token."""
    jws = sign_as_server(ours, segment(server_header(ours)), segment({"sid": victim.session_id}))
    assert len(jws) <= 512

    response = await client.post("/auth/refresh", json={"refresh_token": jws})

    assert_refused(response, because="not a refresh token")
    await assert_victim_unharmed(client, victim)


async def test_refresh_token_naming_the_victims_session_with_a_guessed_secret(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """A forged secret matches nothing in the chain and must not revoke the session it names."""
    forged = f"{victim.session_id}.{secrets.token_urlsafe(32)}"
    assert forged != victim.refresh_token

    response = await client.post("/auth/refresh", json={"refresh_token": forged})

    assert_refused(response, because="The refresh token is not valid")
    await assert_victim_unharmed(client, victim)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert refreshed.status_code == 200, refreshed.text


# -- garbage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("garbage", "because"),
    [
        pytest.param("abc", "not a compact JWS", id="one-segment"),
        pytest.param("a.b", "not a compact JWS", id="two-segments"),
        pytest.param("a.b.c.d.e", "not a compact JWS", id="five-segments-JWE-shaped"),
        pytest.param("....", "not a compact JWS", id="four-dots"),
        pytest.param("a.b.c", "header is not base64url", id="a.b.c"),
        pytest.param("..", "not UTF-8 JSON", id="three-empty-segments"),
        pytest.param(text_segment("[]") + ".e30.", "not a JSON object", id="header-is-a-list"),
        pytest.param(text_segment("null") + ".e30.", "not a JSON object", id="header-is-null"),
        pytest.param(text_segment('"at+jwt"') + ".e30.", "not a JSON object", id="header-string"),
        pytest.param(b64url(b"\xff\xfe{}") + ".e30.", "not UTF-8 JSON", id="header-not-utf8"),
        pytest.param(text_segment("{") + ".e30.", "not UTF-8 JSON", id="header-truncated"),
        pytest.param(
            text_segment('{"a":' + "[" * 2500 + "]" * 2500 + "}") + ".e30.",
            "not UTF-8 JSON",
            id="header-nested-2500-deep",
        ),
    ],
)
async def test_garbage_bearer_value(
    client: httpx.AsyncClient, victim: Victim, garbage: str, because: str, settings: Settings
) -> None:
    assert len(garbage) <= settings.max_token_bytes  # refused for its content, not its size
    await assert_attack_refused(client, victim, garbage, because=because)


async def test_empty_bearer_value_is_no_token_at_all(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    assert_missing_token(await client.get("/auth/me", headers={"Authorization": "Bearer "}))
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize(
    "raw_header",
    [
        pytest.param("Bearer ü.ü.ü".encode(), id="utf-8"),
        pytest.param("Bearer ü.ü.ü".encode("latin-1"), id="latin-1"),
        pytest.param(b"Bearer \x00.\x00.\x00", id="nul-bytes"),
    ],
)
async def test_non_token_characters_are_not_a_bearer_credential(
    client: httpx.AsyncClient, victim: Victim, raw_header: bytes
) -> None:
    """Outside the RFC 6750 token68 alphabet the header does not carry a Bearer token."""
    assert_missing_token(await client.get("/auth/me", headers={b"Authorization": raw_header}))
    await assert_victim_unharmed(client, victim)


# -- size -------------------------------------------------------------------------------------


def correctly_signed_token_of_length(ours: SigningKey, victim: Victim, length: int) -> str:
    """The victim's claims plus padding, signed by us, exactly ``length`` characters long.

    Base64url never yields a length of 1 mod 4, so both header and payload are padded."""
    for header_pad in range(4):
        header = segment(server_header(ours, pad="h" * header_pad))
        for payload_pad in range(length):
            payload = segment({**victim.claims, "pad": "p" * payload_pad})
            token = sign_as_server(ours, header, payload)
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise AssertionError(f"no token of exactly {length} characters")


async def test_correctly_signed_token_of_exactly_the_maximum_size_is_accepted(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, settings: Settings
) -> None:
    token = correctly_signed_token_of_length(ours, victim, settings.max_token_bytes)

    await assert_signed_in(client, victim, token)


async def test_correctly_signed_token_one_byte_over_the_maximum_size(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, settings: Settings
) -> None:
    token = correctly_signed_token_of_length(ours, victim, settings.max_token_bytes + 1)

    await assert_attack_refused(client, victim, token, because="larger than this service accepts")


async def test_one_megabyte_bearer_value(client: httpx.AsyncClient, victim: Victim) -> None:
    """Past the header limit: 431 before the guard reads it (tests/attacks/test_request_limits.py);
    within it but past the token limit: 401 by size, unparsed."""
    assert_too_large(await attack(client, "A" * 1_000_000), 431)
    await assert_attack_refused(
        client, victim, "A" * 20_000, because="larger than this service accepts"
    )


async def test_one_megabyte_authorization_header_that_is_not_a_bearer_token(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    huge = "Bearer " + "A" * 1_000_000 + "!"
    assert_too_large(await client.get("/auth/me", headers={"Authorization": huge}), 431)
    header = "Bearer " + "A" * 20_000 + "!"
    assert_missing_token(await client.get("/auth/me", headers={"Authorization": header}))
    await assert_victim_unharmed(client, victim)


# -- the Authorization header ----------------------------------------------------------------


async def test_no_authorization_header(client: httpx.AsyncClient, victim: Victim) -> None:
    assert_missing_token(await client.get("/auth/me"))
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("Basic {token}", id="basic-scheme"),
        pytest.param("Basic xyz", id="basic-xyz"),
        pytest.param("Token {token}", id="token-scheme"),
        pytest.param("{token}", id="no-scheme"),
        pytest.param("Bearer  {token}", id="two-spaces"),
        pytest.param("Bearer\t{token}", id="tab"),
        pytest.param("Bearer={token}", id="equals-sign"),
        pytest.param("Bearer {token} {token}", id="two-tokens"),
        pytest.param("Bearer {token}, Bearer {token}", id="two-credentials"),
        pytest.param('Bearer "{token}"', id="quoted"),
        pytest.param("Bearer", id="scheme-only"),
    ],
)
async def test_authorization_header_without_one_bearer_credential(
    client: httpx.AsyncClient, victim: Victim, template: str
) -> None:
    """Even wrapped around the victim's real token: the header is not a Bearer credential."""
    header = template.format(token=victim.access_token)
    assert_missing_token(await client.get("/auth/me", headers={"Authorization": header}))
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
async def test_bearer_scheme_name_is_case_insensitive(
    client: httpx.AsyncClient, victim: Victim, scheme: str
) -> None:
    response = await client.get(
        "/auth/me", headers={"Authorization": f"{scheme} {victim.access_token}"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["session_id"] == victim.session_id
