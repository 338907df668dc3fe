"""The master key: 32 random bytes in a file outside the database, wrapping every private key.

Created on first run with mode 0600 (atomically, so two processes starting together agree on
one key); refused when the file is readable by anyone but its owner.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sessionjwt.errors import ConfigurationError

MASTER_KEY_BYTES = 32


def load_or_create_master_key(path: Path) -> bytes:
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"master key file {path} has mode {mode:o}; it must not be readable by group or "
            f"others (run: chmod 600 {path})"
        )
    try:
        key = base64.urlsafe_b64decode(path.read_bytes().strip())
    except ValueError as error:
        raise ConfigurationError(f"master key file {path} is not base64url text") from error
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigurationError(f"master key file {path} must hold {MASTER_KEY_BYTES} bytes")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(base64.urlsafe_b64encode(secrets.token_bytes(MASTER_KEY_BYTES)) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if another process won the race; then its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def derive_subkey(master_key: bytes, purpose: str) -> bytes:
    """An independent 32-byte key for one purpose (HKDF-SHA256, RFC 5869)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"sessionjwt/{purpose}".encode()
    ).derive(master_key)
