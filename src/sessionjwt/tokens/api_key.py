"""Personal API keys: ``sjk_<id><secret><checksum>``, made for secret scanners.

* ``sjk_``: a fixed prefix, so a scanner (GitHub secret scanning, trufflehog, a pre-commit
  hook) can find a leaked key, and a reader can tell a key from a JWT at a glance;
* ``<id>``: 32 base62 characters, the id of the key's session (so the check is one look-up
  by id, like a JWT's ``sid``);
* ``<secret>``: 32 base62 characters from :mod:`secrets` (190 bits); only its SHA-256 is
  stored — the secret is high-entropy, so a slow hash would only slow every request;
* ``<checksum>``: CRC32 of everything before it, as 6 base62 characters, so a typo, a
  truncated paste or a random string is refused before any store read (GitHub's token format
  does the same). The checksum is not a secret: anyone can compute it, so it only filters
  accidents; the secret is what proves the key.

Base62 only, so a double click selects the whole key.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib

from sessionjwt.errors import InvalidToken

API_KEY_PREFIX = "sjk_"
ID_LENGTH = 32
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
API_KEY_LENGTH = len(API_KEY_PREFIX) + ID_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH
LISTED_PREFIX_LENGTH = len(API_KEY_PREFIX) + 8  # what a listing shows: "sjk_" + 8 of the id
_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_BODY_END = API_KEY_LENGTH - CHECKSUM_LENGTH
_SECRET_START = len(API_KEY_PREFIX) + ID_LENGTH


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_key_id() -> str:
    """A session id for a key: 32 base62 characters (190 bits), valid as any session id."""
    return _random_base62(ID_LENGTH)


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def new_api_key(key_id: str) -> tuple[str, str]:
    """A fresh key for the session ``key_id``: ``(key, secret)``; store only
    :func:`hash_key_secret` of the secret."""
    secret = _random_base62(SECRET_LENGTH)
    body = f"{API_KEY_PREFIX}{key_id}{secret}"
    return body + _checksum(body), secret


def hash_key_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def listed_prefix(key: str) -> str:
    return key[:LISTED_PREFIX_LENGTH]


def is_api_key(token: str) -> bool:
    """Whether ``token`` claims to be an API key (the prefix only; see :func:`parse_api_key`)."""
    return token.startswith(API_KEY_PREFIX)


def parse_api_key(key: str) -> tuple[str, str]:
    """``(key id, secret)`` of a well-formed key with a correct checksum, else
    :class:`InvalidToken`. No I/O: a typo never reaches the store."""
    if (
        len(key) != API_KEY_LENGTH
        or not key.startswith(API_KEY_PREFIX)
        or not key.isascii()
        or not key[len(API_KEY_PREFIX) :].isalnum()
        or _checksum(key[:_BODY_END]) != key[_BODY_END:]
    ):
        raise InvalidToken("The API key is malformed or mistyped.")
    return key[len(API_KEY_PREFIX) : _SECRET_START], key[_SECRET_START:_BODY_END]
