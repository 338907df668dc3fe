"""Recovery codes: ten random codes shown once, each good for one sign-in.

``xxxxxx-xxxxxx-xxxxxx-xxxxxx`` in Crockford's base32 (no I, L, O or U; a typed O reads as
0 and I or L as 1): 24 symbols of 5 bits, 120 bits each, from ``secrets``. Stored as SHA-256
only: ASVS 5.0 V6.5.2 allows a plain hash from 112 bits of entropy on (shorter codes would
need a salted password hash, checked against every code of the account), and a lookup by
digest needs no per-code salt.
"""

from __future__ import annotations

import hashlib
import secrets

COUNT = 10
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_codes(count: int = COUNT) -> list[str]:
    return [_one() for _ in range(count)]


SYMBOLS = 24
GROUP = 6


def _one() -> str:
    return _grouped("".join(secrets.choice(ALPHABET) for _ in range(SYMBOLS)))


def _grouped(raw: str) -> str:
    return "-".join(raw[start : start + GROUP] for start in range(0, len(raw), GROUP))


def normalise(code: str) -> str:
    """What the user typed → the canonical code: case, spaces and dashes do not matter."""
    cleaned = "".join(code.split()).replace("-", "").upper().translate(_READ_AS)
    return _grouped(cleaned) if len(cleaned) == SYMBOLS else cleaned


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode("utf-8", "surrogatepass")).hexdigest()
