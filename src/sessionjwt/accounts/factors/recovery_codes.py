"""Recovery codes: ten random codes shown once, each good for one sign-in.

``xxxxx-xxxxx`` in Crockford's base32 (no I, L, O or U; a typed O reads as 0 and I or L
as 1): 10 symbols of 5 bits, 50 bits each, from ``secrets``. Stored as SHA-256 only: with
that much entropy a fast hash is safe, and a lookup by digest needs no per-code salt.
"""

from __future__ import annotations

import hashlib
import secrets

COUNT = 10
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_codes(count: int = COUNT) -> list[str]:
    return [_one() for _ in range(count)]


def _one() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(code: str) -> str:
    """What the user typed → the canonical code: case, spaces and dashes do not matter."""
    cleaned = "".join(code.split()).replace("-", "").upper().translate(_READ_AS)
    return f"{cleaned[:5]}-{cleaned[5:]}" if len(cleaned) == 10 else cleaned


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode("utf-8", "surrogatepass")).hexdigest()
