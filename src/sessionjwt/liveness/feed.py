"""The invalidation-feed seam: how a write in one process reaches the liveness state of others."""

from __future__ import annotations

from typing import Protocol


class InvalidationFeed(Protocol):
    def read(self) -> int:
        """A value that changes whenever any process committed a liveness-relevant write."""
        ...

    def bump(self) -> int:
        """Announce a committed write; called after commit, before the write call returns."""
        ...

    def close(self) -> None: ...
