"""Hostile tokens, built by hand segment by segment, the way an attacker builds them.

Nothing here validates anything: a header may name ``alg: none``, a kid may be a list, an HMAC
key may be somebody's public key. :func:`sign_as_server` signs with one of the server's *own*
keys, so that only header and claim validation stand between the token and the session; it is
how the tests pin individual claim checks without the signature check hiding them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from jwt.algorithms import get_default_algorithms

from sessionjwt.keys.ring import SigningKey


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS segments are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def segment(value: object) -> str:
    """``value`` as compact JSON text, base64url-encoded: a header or payload segment."""
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def text_segment(json_text: str | bytes) -> str:
    """Hand-written JSON text (duplicate members, NaN, not even JSON) as a segment, verbatim."""
    raw = json_text.encode() if isinstance(json_text, str) else json_text
    return b64url(raw)


def with_raw_member(obj: dict[str, Any], name: str, raw_value: str) -> str:
    """JSON text of ``obj`` with one more member appended verbatim, even if ``name`` is taken.

    ``with_raw_member({"sub": "a"}, "sub", '"b"')`` is ``{"sub":"a","sub":"b"}``.
    """
    text = json.dumps(obj, separators=(",", ":"))
    member = f"{json.dumps(name)}:{raw_value}"
    return text[:-1] + ("," if obj else "") + member + "}"


def split(token: str) -> tuple[str, str, str]:
    header, payload, signature = token.split(".")
    return header, payload, signature


def decode_segment(value: str) -> dict[str, Any]:
    decoded = json.loads(unb64url(value))
    assert isinstance(decoded, dict)
    return decoded


def header_of(token: str) -> dict[str, Any]:
    return decode_segment(split(token)[0])


def claims_of(token: str) -> dict[str, Any]:
    return decode_segment(split(token)[1])


def sign(alg: str, key: object, header: str, payload: str) -> str:
    """``header.payload.signature`` signed with ``key`` under JWS algorithm ``alg``.

    The key is used as given, never checked against the algorithm: HS256 keyed with the bytes
    of an Ed25519 public key is exactly what an algorithm-confusion attacker computes.
    """
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = get_default_algorithms()[alg].sign(signing_input, key)
    return f"{header}.{payload}.{b64url(signature)}"


# The order n of the P-256 group: the server's ES256 signatures have s <= n/2 (low-S).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign_as_server(key: SigningKey, header: str, payload: str) -> str:
    """Sign with one of the server's own keys: only header/claim validation can refuse it.

    An ES256 signature is made low-S like the server's own (``cryptography`` leaves s high
    half the time, and the server refuses a high-S twin as a second spelling)."""
    token = sign(key.alg, key.signing_key, header, payload)
    if key.alg != "ES256":
        return token
    signing_input, _, signature = token.rpartition(".")
    raw = unb64url(signature)
    s = int.from_bytes(raw[32:], "big")
    if s > P256_ORDER // 2:
        raw = raw[:32] + (P256_ORDER - s).to_bytes(32, "big")
    return f"{signing_input}.{b64url(raw)}"


def server_header(key: SigningKey, **extra: object) -> dict[str, Any]:
    """The header the server itself writes, plus (or overriding) ``extra`` members."""
    return {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **extra}


def signed_by_us(key: SigningKey, payload: str) -> str:
    """``payload`` under the server's own header, signed with its key: only claim validation
    can refuse it."""
    return sign_as_server(key, segment(server_header(key)), payload)


def without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    """``claims`` with the member ``name`` left out."""
    return {key: value for key, value in claims.items() if key != name}
