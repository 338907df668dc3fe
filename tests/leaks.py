"""Finding secrets in text: a bag of everything that must never be written down, in every
encoding it could be written in, and a scan of every sink the suite can read.

To cover a new secret, ``bag.add(label, value)`` (text) or ``bag.add_bytes(label, raw)``;
to cover a new sink, pass its text to :meth:`SecretBag.leaks` under a name.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives import serialization

MIN_SECRET_CHARS = 8  # shorter fragments would match by chance
WATCHED_LOGGERS = (
    "sessionjwt",
    "sessionjwt.audit",
    "sessionjwt.feed",
    "sessionjwt.keys",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "httpx",
    "httpcore",
)


class SecretBag:
    def __init__(self) -> None:
        self._needles: dict[str, str] = {}  # needle → label

    def add(self, label: str, value: str) -> None:
        if len(value) < MIN_SECRET_CHARS:
            raise ValueError(f"{label} is too short to search for reliably")
        self._needles.setdefault(value, label)

    def add_bytes(self, label: str, raw: bytes) -> None:
        """Raw bytes as hex, base64 and base64url (with and without padding)."""
        self.add(f"{label} (hex)", raw.hex())
        standard = base64.b64encode(raw).decode()
        urlsafe = base64.urlsafe_b64encode(raw).decode()
        for name, text in (("base64", standard), ("base64url", urlsafe)):
            self.add(f"{label} ({name})", text)
            self.add(f"{label} ({name}, unpadded)", text.rstrip("="))
        if raw.isascii() and raw.decode(errors="ignore").isprintable():
            self.add(f"{label} (text)", raw.decode())

    def add_private_key(self, label: str, key: Any) -> None:
        """An asymmetric private key as PEM body, DER and (Ed25519) raw bytes; HMAC bytes."""
        if isinstance(key, bytes):
            self.add_bytes(label, key)
            return
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.add_bytes(f"{label} DER", der)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        for line in pem.splitlines():  # a PEM line is 64 base64 characters of the DER
            if not line.startswith("-----") and len(line) >= MIN_SECRET_CHARS:
                self.add(f"{label} PEM line", line)
        try:
            raw = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        except ValueError:
            return  # not a key type with a raw form (EC, RSA)
        self.add_bytes(f"{label} raw", raw)

    def __len__(self) -> int:
        return len(self._needles)

    def leaks(self, sinks: Mapping[str, str]) -> list[str]:
        """``"<secret label> in <sink name>"`` for every secret found in any sink."""
        return [
            f"{label} in {sink}"
            for sink, text in sinks.items()
            for needle, label in self._needles.items()
            if needle in text
        ]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # with any traceback, as a log file would get


@contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Every record of every logger, at DEBUG for ours and the HTTP stack's, formatted."""
    handler = _Collect()
    root = logging.getLogger()
    watched = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    saved = [(logger, logger.level, logger.propagate) for logger in [root, *watched]]
    root.addHandler(handler)
    for logger in [root, *watched]:
        logger.setLevel(logging.DEBUG)
        logger.propagate = logger is not root
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        for logger, level, propagate in saved:
            logger.setLevel(level)
            logger.propagate = propagate
