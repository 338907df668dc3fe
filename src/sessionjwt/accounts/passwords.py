"""Password policy (NIST SP 800-63B, ASVS 5 §6.2) and argon2id hashing off the event loop.

Policy: a minimum length, a generous maximum, no composition rules, no truncation, and a
refusal of the most common passwords.

Hashing runs off the event loop in a pool of its own, of ``threads`` threads at the lowest
CPU priority (nice 19; libargon2's own lane threads inherit it). A shared thread pool let
20 concurrent logins run 20 argon2 computations at once (80 lane threads on 2 cores, 1.3 GB
at 64 MiB each), and the event loop got so little CPU that the request checks' p99 rose
37-fold (``benchmarks/http_throughput.py``, login storm). Queued logins wait their turn
instead; request checks come first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib.resources import files
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sessionjwt.errors import WeakPassword

T = TypeVar("T")
HASHING_NICENESS = 19


def _lower_priority() -> None:
    """Run this hashing thread (and the lane threads it starts) after everything else."""
    with contextlib.suppress(OSError, AttributeError):  # not on every platform: then as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


@cache
def common_passwords() -> frozenset[str]:
    text = files("sessionjwt").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def normalise_password(password: str) -> str:
    """NFKC, so the same password typed on two keyboards hashes the same (800-63B §5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


class PasswordPolicy:
    def __init__(self, min_length: int, max_length: int) -> None:
        self.min_length = min_length
        self.max_length = max_length

    def check(self, password: str, *, email: str | None = None) -> None:
        """Raise :class:`WeakPassword` saying what is wrong; return nothing when acceptable."""
        normalised = normalise_password(password)
        if len(normalised) < self.min_length:
            raise WeakPassword(f"The password must be at least {self.min_length} characters.")
        if len(normalised) > self.max_length:
            raise WeakPassword(f"The password must be at most {self.max_length} characters.")
        lowered = normalised.casefold()
        if lowered in common_passwords():
            raise WeakPassword("This password is among the most commonly used; choose another.")
        if email is not None and lowered == email.casefold():
            raise WeakPassword("The password must not be the email address.")


class PasswordHashing:
    """argon2id via argon2-cffi; verification also says when a hash should be upgraded."""

    def __init__(
        self, time_cost: int, memory_cost_kib: int, parallelism: int, threads: int = 2
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="sessionjwt-argon2", initializer=_lower_priority
        )
        # Verified against for unknown emails so that they take as long as known ones.
        self._dummy_hash = self._hasher.hash("sessionjwt-dummy-password-for-equal-timing")

    async def _off_loop(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    async def hash(self, password: str) -> str:
        normalised = normalise_password(password)
        return await self._off_loop(lambda: self._hasher.hash(normalised))

    async def verify(self, password_hash: str | None, password: str) -> tuple[bool, bool]:
        """Return ``(matches, needs_rehash)``; with no hash, burn the same time and say no."""
        return await self._off_loop(lambda: self._verify_sync(password_hash, password))

    def _verify_sync(self, password_hash: str | None, password: str) -> tuple[bool, bool]:
        target = password_hash if password_hash is not None else self._dummy_hash
        try:
            self._hasher.verify(target, normalise_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if password_hash is None:
            return False, False
        return True, self._hasher.check_needs_rehash(password_hash)
