"""The invalidation-feed seam: how a write in one process reaches the liveness state of others.

Two duties. ``announce`` is awaited by every liveness-relevant write after its commit and
before the write call returns. ``changed`` is called by every request check and answers a
:class:`Memory` (falsy when memory is current, so the warm path tests one truth value):
``DROP`` — something may have been missed, forget everything and ask the store again;
``BYPASS`` — the feed cannot vouch for being current right now (its lease lapsed: a stalled
event loop, a silent link), so this check asks the store, but what memory holds stays, since
messages on a live subscription still arrive in order and are applied before trust returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, Protocol


class Memory(IntEnum):
    """What a request check may do with the process's liveness memory (see the module)."""

    CURRENT = 0
    DROP = 1
    BYPASS = 2


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What changed, carrying what the store now says wherever that can only narrow access.

    Receivers apply a message in place, without reading the store, only when doing so can
    refuse more and never accept more: a session is revoked (revocation is final); a user's
    watermark moved up (``generation``, with the one session it kept) or the account was
    disabled at that watermark. A message without those facts (re-enable, new roles) makes
    receivers reload the user. Ordering between publishers is not assumed: watermarks only
    move up, so a late message for a lower one is ignored. Two deployment-wide kinds: an
    emergency rotation moved the session watermark (``global``: receivers drop all memory)
    and the key ring changed (``keys``: receivers reload it).
    """

    kind: Literal["session", "user", "global", "keys"]
    id: str
    reason: str = "revoked"  # session: why it was revoked
    generation: int | None = None  # user: the watermark the store now holds
    disabled: bool | None = None  # user: disabled (True) or re-enabled (False) at ``generation``
    kept_session: str | None = None  # user: the session the new watermark kept, if any

    def encode(self) -> str:
        if self.kind == "session":
            return f"s:{self.id}:{self.reason}"
        if self.kind == "global":
            return f"g:{self.id}"  # every session before now ended; receivers reload all
        if self.kind == "keys":
            return "k:"
        generation = "" if self.generation is None else str(self.generation)
        flag = {None: "", True: "d", False: "e"}[self.disabled]
        return f"u:{self.id}:{generation}:{flag}:{self.kept_session or ''}"

    @classmethod
    def decode(cls, text: str) -> Invalidation | None:
        """The message, or None when it is not one this version understands."""
        fields = text.split(":")
        if text == "k:":
            return cls("keys", "")
        if fields[0] == "g" and len(fields) == 2 and fields[1]:
            return cls("global", fields[1])
        if fields[0] == "s" and len(fields) == 3 and fields[1] and fields[2]:
            return cls("session", fields[1], reason=fields[2])
        if fields[0] == "u" and len(fields) == 5 and fields[1]:
            _, user_id, generation, flag, kept = fields
            if not (generation == "" or generation.isdigit()) or flag not in _DISABLED:
                return None
            return cls(
                "user",
                user_id,
                generation=int(generation) if generation else None,
                disabled=_DISABLED[flag],
                kept_session=kept or None,
            )
        return None


_DISABLED: dict[str, bool | None] = {"": None, "d": True, "e": False}


class InvalidationFeed(Protocol):
    def changed(self) -> Memory | bool:
        """Falsy while memory is current; else ``DROP`` (True counts as ``DROP``) or
        ``BYPASS``."""
        ...

    async def announce(self, change: Invalidation) -> None:
        """Tell every other process; raise if that could not be done."""
        ...

    def keys_changed(self) -> bool:
        """True once after another process changed the key ring (rotation, retirement)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
