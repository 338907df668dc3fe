"""Password policy and hashing: NIST 800-63B rules, argon2id, upgrades on login."""

from __future__ import annotations

import asyncio
import threading
import unicodedata
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from sessionjwt import InvalidCredentials, ManualClock, SessionJWT
from sessionjwt.accounts.passwords import (
    HASHING_NICENESS,
    PasswordHashing,
    PasswordPolicy,
    common_passwords,
)
from sessionjwt.errors import WeakPassword
from tests.conftest import PASSWORD, make_settings


def test_policy_refuses_short_common_and_email_passwords_but_no_composition_rules() -> None:
    policy = PasswordPolicy(min_length=8, max_length=1024)
    assert len(common_passwords()) > 19_000
    for weak in ("short", "password", "qwertyuiop", "PASSWORD1", "alice@example.com"):
        with pytest.raises(WeakPassword):
            policy.check(weak, email="alice@example.com")
    for fine in ("all lowercase words here", "x" * 64, "ünïcødé päss phrase", " spaces  kept "):
        policy.check(fine)
    with pytest.raises(WeakPassword, match="at most 1024"):
        policy.check("y" * 1025)


async def test_long_passwords_are_not_truncated(auth: SessionJWT) -> None:
    long_password = "a very long passphrase " * 8  # 184 characters, past bcrypt's 72 bytes
    await auth.register("alice@example.com", long_password)
    await auth.login("alice@example.com", long_password)
    with pytest.raises(InvalidCredentials):
        await auth.login("alice@example.com", long_password[:72])


async def test_unicode_passwords_match_whatever_the_normal_form(auth: SessionJWT) -> None:
    composed = unicodedata.normalize("NFC", "café crème brûlée")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    await auth.register("alice@example.com", composed)
    await auth.login("alice@example.com", decomposed)


async def test_unknown_email_costs_one_hash_verification_like_a_known_one(
    auth: SessionJWT, monkeypatch: pytest.MonkeyPatch
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    verified: list[bool] = []
    original = auth.hashing._verify_sync

    def counting(password_hash: str | None, password: str) -> tuple[bool, bool]:
        verified.append(password_hash is None)
        return original(password_hash, password)

    monkeypatch.setattr(auth.hashing, "_verify_sync", counting)
    for email in ("nobody@example.com", "alice@example.com", "not-an-email"):
        with pytest.raises(InvalidCredentials):
            await auth.login(email, "wrong password entirely")
    assert verified == [True, False, True]


async def test_hash_is_upgraded_on_login_when_parameters_change(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with SessionJWT(make_settings(tmp_path), clock=clock) as old:
        user = await old.register("alice@example.com", PASSWORD)
    assert user.password_hash is not None
    assert "t=1," in user.password_hash

    stronger = make_settings(tmp_path, argon2_time_cost=2)
    async with SessionJWT(stronger, clock=clock) as new:
        await new.login("alice@example.com", PASSWORD)
        upgraded = await new.users.find_by_email("alice@example.com")
        assert upgraded is not None and upgraded.password_hash is not None
        assert "t=2," in upgraded.password_hash
        assert upgraded.password_hash.startswith("$argon2id$")
        PasswordHasher().verify(upgraded.password_hash, PASSWORD)
        await new.login("alice@example.com", PASSWORD)


def _niceness(native_id: int) -> int:
    """A thread's nice value, from /proc (field 19 of its stat line)."""
    stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[16])


async def test_hashing_runs_at_most_threads_at_once_at_the_lowest_priority() -> None:
    """A login storm must not take the CPU from the request checks on the event loop."""
    hashing = PasswordHashing(time_cost=2, memory_cost_kib=8192, parallelism=1, threads=2)
    earlier = set(threading.enumerate())  # other services' idle pools, from earlier tests
    seen_threads: set[int] = set()
    busiest = 0
    running = True

    async def watch() -> None:
        nonlocal busiest
        while running:
            pool = [
                t
                for t in threading.enumerate()
                if t.name.startswith("sessionjwt-argon2") and t not in earlier
            ]
            busiest = max(busiest, len(pool))
            seen_threads.update(t.native_id for t in pool if t.native_id is not None)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    hashes = await asyncio.gather(*(hashing.hash(f"password number {n}") for n in range(8)))
    running = False
    await watcher
    assert len(set(hashes)) == 8
    for n, password_hash in enumerate(hashes):
        assert (await hashing.verify(password_hash, f"password number {n}"))[0]
    assert busiest == 2, f"{busiest} hashing threads at once"
    assert {_niceness(tid) for tid in seen_threads} == {HASHING_NICENESS}  # Linux, as CI
