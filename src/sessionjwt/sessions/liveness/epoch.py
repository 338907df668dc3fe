"""Same-host invalidation feed: a 64-bit counter in a memory-mapped file beside the database.

SQLite has no cross-process change notification, and the zero-setup deployment still has more
than one process writing: the CLI's 2 AM ``sessions revoke``, or several uvicorn workers. Every
writer bumps this counter *after* its transaction commits and *before* its call returns; every
request check reads it (one aligned 8-byte load, no system call) and drops its liveness state
when another process moved it. So a revoke made anywhere on this host is seen by the next
request everywhere on this host. Across hosts this cannot work; that is what the Redis feed is
for (:mod:`.redis_feed`).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

from sessionjwt.sessions.liveness.feed import Invalidation

_COUNTER = struct.Struct("<Q")
LIVENESS_SLOT, KEYS_SLOT = 0, 8  # byte offsets of the two counters


def _map_counters(path: Path) -> mmap.mmap:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(descriptor).st_size < 2 * _COUNTER.size:
            os.ftruncate(descriptor, 2 * _COUNTER.size)
        return mmap.mmap(descriptor, 2 * _COUNTER.size)
    finally:
        os.close(descriptor)


class SharedEpoch:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._map = _map_counters(path)
        self._lock_path = path.with_name(path.name + ".lock")
        self._seen = self._read()
        self._keys_seen = self._read(KEYS_SLOT)

    def _read(self, slot: int = LIVENESS_SLOT) -> int:
        return int(_COUNTER.unpack_from(self._map, slot)[0])

    def changed(self) -> bool:
        value = self._read()
        if value == self._seen:
            return False
        self._seen = value
        return True

    def keys_changed(self) -> bool:
        value = self._read(KEYS_SLOT)
        if value == self._keys_seen:
            return False
        self._keys_seen = value
        return True

    async def announce(self, change: Invalidation) -> None:
        """Increment under an exclusive lock. Our own bump does not count as news to us (we
        updated our memory in place), unless someone else's bump is also unseen."""
        slot = KEYS_SLOT if change.kind == "keys" else LIVENESS_SLOT
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            value = self._read(slot)
            bumped = (value + 1) % (1 << 64)
            _COUNTER.pack_into(self._map, slot, bumped)
            if slot == LIVENESS_SLOT and value == self._seen:
                self._seen = bumped
            elif slot == KEYS_SLOT and value == self._keys_seen:
                self._keys_seen = bumped
        finally:
            os.close(descriptor)  # closing releases the lock

    async def start(self) -> None:
        """Map the file again after :meth:`close` (a service closed and started again, as a
        second ASGI lifespan does). What was last seen is kept, so a bump made while closed
        still counts as news."""
        if self._map.closed:
            self._map = _map_counters(self._path)

    async def close(self) -> None:
        self._map.close()


class LocalEpoch:
    """A single process with a private database (SQLite ``:memory:``): no one else to hear."""

    def changed(self) -> bool:
        return False

    def keys_changed(self) -> bool:
        return False

    async def announce(self, change: Invalidation) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
