"""A set of master keys: the current one wraps, the previous ones only unwrap.

Rotating the master key cannot be atomic across a fleet: for a while some rows are wrapped by
the old key and some instances may still be on the old configuration. So every instance holds
*both* keys (current + previous) and each stored row names the key that wrapped it by a short
id; ``sessionjwt master-key rewrap`` then moves every row to the current key, after which the
old key can be removed. This is the itsdangerous pattern (sign with the newest, verify with
the others) applied to envelope encryption.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field

from sessionjwt.errors import ConfigurationError
from sessionjwt.keys.ring import decrypt_private_bytes, encrypt_private_bytes
from sessionjwt.settings import MASTER_KEY_BYTES, decode_base64url

MASTER_KEY_ID_BYTES = 8


def master_key_id(key: bytes) -> str:
    """A short public name for a key: the first 8 bytes of its SHA-256, in hex.

    Stored beside each wrapped row so an instance knows which key to use (and can say which
    one is missing). A hash of 256 random bits reveals nothing usable about them.
    """
    return hashlib.sha256(key).digest()[:MASTER_KEY_ID_BYTES].hex()


def generate_master_key() -> str:
    """A new random master key as base64url text, the form every source stores."""
    return base64.urlsafe_b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode("ascii")


def parse_master_key(text: str | bytes, where: str) -> bytes:
    """Decode a stored key; errors name ``where`` the key came from, never its content."""
    try:
        key = decode_base64url(text)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"master key from {where} is not base64url text") from None
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigurationError(
            f"master key from {where} must hold {MASTER_KEY_BYTES} bytes, not {len(key)} "
            "(make one with: sessionjwt master-key generate)"
        )
    return key


@dataclass(frozen=True, slots=True)
class MasterKeys:
    """The current master key and the previous ones; ``repr`` shows ids only."""

    current: bytes = field(repr=False)
    previous: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        for key in (self.current, *self.previous):
            if len(key) != MASTER_KEY_BYTES:
                raise ConfigurationError(f"a master key must hold {MASTER_KEY_BYTES} bytes")
        # The current key listed again as a previous one is harmless: drop the duplicate.
        unique: dict[str, bytes] = {}
        for key in self.previous:
            unique.setdefault(master_key_id(key), key)
        unique.pop(self.current_id, None)
        object.__setattr__(self, "previous", tuple(unique.values()))

    @property
    def current_id(self) -> str:
        return master_key_id(self.current)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every configured key's id, the current one first."""
        return (self.current_id, *(master_key_id(key) for key in self.previous))

    def __repr__(self) -> str:
        return f"MasterKeys(current={self.current_id}, previous={list(self.ids[1:])})"

    def by_id(self, key_id: str) -> bytes | None:
        for key in (self.current, *self.previous):
            if master_key_id(key) == key_id:
                return key
        return None

    def wrap(self, kid: str, private_bytes: bytes) -> tuple[bytes, str]:
        """Encrypt under the current key: ``(blob, master key id)`` to store together."""
        return encrypt_private_bytes(self.current, kid, private_bytes), self.current_id

    def unwrap(
        self, kid: str, blob: bytes, wrapped_by: str | None, what: str = "signing key"
    ) -> tuple[bytes, str]:
        """Decrypt a row; ``(private bytes, id of the key that opened it)``.

        ``wrapped_by`` is the row's stored id; rows written before ids were stored have none
        and are tried against every configured key, the current one first.
        """
        if wrapped_by is not None:
            key = self.by_id(wrapped_by)
            if key is None:
                raise ConfigurationError(
                    f"cannot decrypt {what} {kid}: wrong master key. It was wrapped by "
                    f"master key {wrapped_by}, which is not configured (configured: "
                    f"{', '.join(self.ids)}). Add it as a previous master key, or run "
                    "`sessionjwt master-key rewrap` while it is still configured."
                )
            try:
                return decrypt_private_bytes(key, kid, blob), wrapped_by
            except ConfigurationError:
                raise ConfigurationError(
                    f"cannot decrypt {what} {kid} with master key {wrapped_by}: "
                    "the row was tampered with"
                ) from None
        for key in (self.current, *self.previous):
            try:
                return decrypt_private_bytes(key, kid, blob), master_key_id(key)
            except ConfigurationError:
                continue
        raise ConfigurationError(
            f"cannot decrypt {what} {kid}: wrong master key (tried {', '.join(self.ids)}), "
            "or the row was tampered with"
        )
