"""Keys derived from the master key, and the historical single-file entry point.

Where the master key comes from (file, environment, Vault, AWS) and how several coexist during
a rotation lives in :mod:`sessionjwt.keys.master`.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sessionjwt.keys.master.file import load_or_create_master_key
from sessionjwt.settings import MASTER_KEY_BYTES

__all__ = ["MASTER_KEY_BYTES", "derive_subkey", "load_or_create_master_key"]


def derive_subkey(master_key: bytes, purpose: str) -> bytes:
    """An independent 32-byte key for one purpose (HKDF-SHA256, RFC 5869)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"sessionjwt/{purpose}".encode()
    ).derive(master_key)
