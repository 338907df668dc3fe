"""The seam every master-key source implements: one method, a reference in, 32 bytes out."""

from __future__ import annotations

from typing import Protocol


class MasterKeySource(Protocol):
    """Where master keys live.

    A ``reference`` names one key inside the source: a file path, an environment variable, a
    Vault secret path, an SSM parameter name or a Secrets Manager secret id. The current key
    and the previous ones are references into the same source. ``load`` returns the decoded
    32-byte key or raises :class:`~sessionjwt.errors.ConfigurationError` naming the reference
    (never the secret).
    """

    def load(self, reference: str) -> bytes: ...
