"""The default source: 32 random bytes as base64url text in a file outside the database.

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

from sessionjwt.errors import ConfigurationError
from sessionjwt.keys.master.keyset import parse_master_key
from sessionjwt.settings import MASTER_KEY_BYTES


class FileSource:
    """Keys in files. ``create`` names the one file made on first run, the current key's:
    a missing *previous* key is a mistake to report, not a gap to fill."""

    def __init__(self, *, create: Path | None = None) -> None:
        self._create = create

    def load(self, reference: str) -> bytes:
        path = Path(reference)
        if not path.exists():
            if self._create is None or path != self._create:
                raise ConfigurationError(f"master key file {path} does not exist")
            _create(path)
        return load_master_key_file(path)


def load_master_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"master key file {path} has mode {mode:o}; it must not be readable by group or "
            f"others (run: chmod 600 {path})"
        )
    return parse_master_key(path.read_bytes(), f"file {path}")


def load_or_create_master_key(path: Path) -> bytes:
    """The key in ``path``, created 0600 on first use (the historical single-key entry point)."""
    return FileSource(create=path).load(str(path))


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
