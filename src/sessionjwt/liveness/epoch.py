"""Same-host invalidation feed: a 64-bit counter in a memory-mapped file beside the database.

SQLite has no cross-process change notification, and the zero-setup deployment still has more
than one process writing: the CLI's 2 AM ``sessions revoke``, or several uvicorn workers. Every
writer bumps this counter *after* its transaction commits and *before* its call returns; every
request check reads it (one aligned 8-byte load, no system call) and drops its liveness state
when it moved. So a revoke made anywhere on this host is seen by the next request everywhere on
this host. Across hosts this cannot work; that is what the Redis feed is for.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

_COUNTER = struct.Struct("<Q")


class SharedEpoch:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(descriptor).st_size < _COUNTER.size:
                os.ftruncate(descriptor, _COUNTER.size)
            self._map = mmap.mmap(descriptor, _COUNTER.size)
        finally:
            os.close(descriptor)
        self._lock_path = path.with_name(path.name + ".lock")

    def read(self) -> int:
        return int(_COUNTER.unpack_from(self._map, 0)[0])

    def bump(self) -> int:
        """Increment under an exclusive lock (writers only); return the new value."""
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            value = (self.read() + 1) % (1 << 64)
            _COUNTER.pack_into(self._map, 0, value)
            return value
        finally:
            os.close(descriptor)  # closing releases the lock

    def close(self) -> None:
        self._map.close()


class LocalEpoch:
    """A feed for a single process (e.g. SQLite ``:memory:``): nothing to hear from elsewhere."""

    def __init__(self) -> None:
        self._value = 0

    def read(self) -> int:
        return self._value

    def bump(self) -> int:
        self._value += 1
        return self._value

    def close(self) -> None:
        return None
