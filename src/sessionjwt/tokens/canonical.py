"""One token, one spelling: the canonical form of a compact JWS, and low-S ECDSA.

Base64url decoders are lenient: PyJWT accepts a padded segment (``=``), and other or older
decoders ignore the unused low bits of the last character or skip characters outside the
alphabet. An ECDSA signature ``(r, s)`` is just as valid as ``(r, n - s)``. Each of those
turns one token into several strings that verify, and the verified-token memo, a resource
server's cache and anyone who tracks tokens by their string must see one token as one string.
So a segment must be unpadded base64url (RFC 7515 §2) with zero unused bits, and an ES256
signature must have ``s <= n/2`` (the low-S rule of Bitcoin's BIP 62 and libsecp256k1); our
signer normalises ``s`` to match, since ``cryptography`` does not.
"""

from __future__ import annotations

import base64
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
# The last character of a segment whose length is 2 (or 3) mod 4 carries 4 (or 2) unused low
# bits: only the characters whose index has them all zero are canonical. 1 mod 4 is never valid.
_CANONICAL_LAST = ("", "", "AQgw", "AEIMQUYcgkosw048")

# The order n of each elliptic curve group we sign or verify with, by JWS algorithm.
CURVE_ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,  # P-256
}


def is_canonical_segment(segment: str) -> bool:
    """Whether ``segment`` is the one base64url spelling of its bytes: unpadded, only
    ``[A-Za-z0-9_-]``, zero unused bits."""
    if _ALPHABET.fullmatch(segment) is None:
        return False
    remainder = len(segment) & 3
    return remainder == 0 or segment[-1] in _CANONICAL_LAST[remainder]


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) & 3))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_high_s(alg: str, signature_segment: str) -> bool:
    """Whether a canonical ``signature_segment`` is an ECDSA ``r || s`` with ``s > n/2``.

    Anything else (another algorithm, a signature of the wrong length) is left to the signature
    check, which refuses what it cannot verify."""
    order = CURVE_ORDERS.get(alg)
    if order is None:
        return False
    raw = _b64decode(signature_segment)
    half = (order.bit_length() + 7) // 8
    return len(raw) == 2 * half and int.from_bytes(raw[half:], "big") > order >> 1


def low_s(alg: str, token: str) -> str:
    """``token`` with its ECDSA signature's ``s`` replaced by ``n - s`` when ``s > n/2``: the
    same signature, in the one form :func:`is_high_s` accepts. Other algorithms unchanged."""
    order = CURVE_ORDERS.get(alg)
    if order is None:
        return token
    signing_input, _, signature_segment = token.rpartition(".")
    if not is_high_s(alg, signature_segment):
        return token
    raw = _b64decode(signature_segment)
    half = len(raw) // 2
    s = order - int.from_bytes(raw[half:], "big")
    return f"{signing_input}.{_b64encode(raw[:half] + s.to_bytes(half, 'big'))}"
