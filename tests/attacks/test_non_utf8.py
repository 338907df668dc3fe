"""Bytes that are not UTF-8: in the ``Authorization`` header (as sent over HTTP), and inside
token segments signed with our own key (so only decoding can refuse them). Never a 5xx."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import (
    Victim,
    assert_attack_refused,
    assert_missing_token,
    assert_victim_unharmed,
)
from tests.attacks.forge import (
    b64url,
    segment,
    server_header,
    sign_as_server,
    signed_by_us,
    text_segment,
    with_raw_member,
    without,
)
from tests.attacks.live import HttpImplementation, serving

HEADER_BYTES = [
    pytest.param(lambda token: b"Bearer \xff\xfe." + token[7:], id="ff-fe-in-the-header-segment"),
    pytest.param(lambda token: token + b"\x80", id="continuation-byte-after-the-signature"),
    pytest.param(lambda token: token.replace(b".", b"\xc0\xae", 1), id="overlong-dot"),
    pytest.param(lambda token: b"Bearer \xed\xa0\x80", id="utf-8-encoded-surrogate"),
    pytest.param(lambda token: b"B\xe9arer " + token[7:], id="latin-1-in-the-scheme"),
]


@pytest.mark.parametrize("http", ["httptools", "h11"])
@pytest.mark.parametrize("mangle", HEADER_BYTES)
async def test_non_utf8_bytes_in_the_authorization_header_over_http(
    app: FastAPI, victim: Victim, http: HttpImplementation, mangle: object
) -> None:
    assert callable(mangle)
    raw = mangle(f"Bearer {victim.access_token}".encode())
    assert isinstance(raw, bytes)

    async with serving(app, http) as client:
        response = await client.get("/auth/me", headers={b"Authorization": raw})
        assert_missing_token(response)
        await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize(
    "payload_bytes",
    [
        pytest.param('{"sub":"é"}'.encode("latin-1"), id="latin-1-json"),
        pytest.param(b'{"sub":"\xc0\xaf"}', id="overlong-slash"),
        pytest.param(b'{"sub":"\xed\xa0\x80"}', id="encoded-surrogate"),
        pytest.param('{"sub":"x"}'.encode("utf-16"), id="utf-16-with-bom"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf-8-bom"),
        pytest.param(b"\xff" * 32, id="ff-bytes"),
    ],
)
async def test_payload_that_is_not_utf8_json(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, payload_bytes: bytes
) -> None:
    token = sign_as_server(ours, segment(server_header(ours)), b64url(payload_bytes))

    await assert_attack_refused(client, victim, token, because="not UTF-8 JSON")


@pytest.mark.parametrize("claim", ["sub", "sid", "jti"])
async def test_lone_surrogate_escape_in_an_identifier(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str
) -> None:
    """``"\\ud800"`` is valid JSON text but no Unicode string: it must not reach the store."""
    raw = f'"{victim.claims[claim][:-1]}\\ud800"'
    payload = text_segment(with_raw_member(without(victim.claims, claim), claim, raw))

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because=f"'{claim}' must be a non-empty"
    )


@pytest.mark.parametrize("claim", ["sub", "sid", "jti"])
@pytest.mark.parametrize(
    "character",
    [
        pytest.param(r"\u00e9", id="latin-small-e-acute"),
        pytest.param(r"\u0000", id="nul"),
        pytest.param(r"\n", id="newline"),
        pytest.param(r"\ufeff", id="bom"),
    ],
)
async def test_non_ascii_or_control_character_in_an_identifier(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str, character: str
) -> None:
    raw = f'"{victim.claims[claim][:-1]}{character}"'
    payload = text_segment(with_raw_member(without(victim.claims, claim), claim, raw))

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because=f"'{claim}' must be a non-empty"
    )
