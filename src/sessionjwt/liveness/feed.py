"""The invalidation-feed seam: how a write in one process reaches the liveness state of others.

Two duties. ``announce`` is awaited by every liveness-relevant write after its commit and
before the write call returns. ``changed`` is called by every request check: True means the
process must drop what it holds in memory and ask the store again. A feed that cannot vouch
for being current (disconnected, silent too long) answers True on every call, so that each
check goes to the store until the feed is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What changed: one session, or everything that depends on one user."""

    kind: Literal["session", "user"]
    id: str

    def encode(self) -> str:
        return f"{self.kind[0]}:{self.id}"

    @classmethod
    def decode(cls, text: str) -> Invalidation | None:
        kind, _, ident = text.partition(":")
        if not ident or kind not in ("s", "u"):
            return None
        return cls("session" if kind == "s" else "user", ident)


class InvalidationFeed(Protocol):
    def changed(self) -> bool:
        """True when this process can no longer trust its in-memory liveness state."""
        ...

    async def announce(self, change: Invalidation) -> None:
        """Tell every other process; raise if that could not be done."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
