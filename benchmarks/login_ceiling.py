"""What the per-account login ceiling costs an attacker, and what it costs the real user.

A distributed guesser rotates over N addresses, each retrying the moment its ``Retry-After``
ends (the best it can do); every guess goes through the real login defences
(``SessionJWT.authenticate``: per-address limit, (account, address) backoff, per-account
ceiling, argon2) with the production backoff settings. Time is a ManualClock, so hours pass
in seconds. Printed: the guesses that reached the password check per hour, for the first
hour and the hours after it; then the real user, from an address they never used, mistyping
once while the attack goes on — how long until the right password is let in, without and
with the known-device cookie of an earlier sign-in; and what a stolen cookie adds.

The per-account ceiling's window is kept by ``limits`` on the wall clock, which barely moves
here: once passed it stays passed, as it does under a real attack (which fails faster than
the ceiling forgets). The per-address limit is lifted so that it does not bind in compressed
time (30/minute would not bind a real attacker at one guess per 15 minutes either).

Run: ``.venv/bin/python benchmarks/login_ceiling.py [--addresses 20,1000] [--hours 2]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import heapq
import tempfile
from collections.abc import Sequence

from benchmarks.common import at_least, machine, pinned_settings
from sessionjwt import ManualClock, SessionJWT
from sessionjwt.client import ClientInfo
from sessionjwt.errors import InvalidCredentials, RateLimited

EMAIL = "alice@example.com"
PASSWORD = "correct horse battery staple"
T0 = 1_800_000_000.0
HOUR = 3600.0


def address(n: int) -> str:
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


async def attack(auth: SessionJWT, clock: ManualClock, addresses: int, hours: int) -> list[int]:
    """Guesses that reached the password check, per hour, from ``addresses`` rotating."""
    start = clock.now()
    accepted = [0] * hours
    due = [(start, n) for n in range(addresses)]  # (when the address may try next, address)
    while due:
        when, n = heapq.heappop(due)
        if when >= start + hours * HOUR:
            continue
        clock.set(when)
        client = ClientInfo(ip=address(n))
        try:
            await auth.authenticate(EMAIL, f"guess {n} at {when}", client)
        except InvalidCredentials:
            accepted[int((when - start) // HOUR)] += 1
            heapq.heappush(due, (when, n))  # at once: the next answer says how long to wait
        except RateLimited as refused:
            heapq.heappush(due, (when + refused.retry_after, n))
    clock.set(start + hours * HOUR)
    return accepted


async def fresh_address_guesses(auth: SessionJWT, device: str | None, addresses: int = 5) -> int:
    """Guesses let through from ``addresses`` new addresses, each guessing until refused."""
    accepted = 0
    for n in range(addresses):
        client = ClientInfo(ip=f"172.16.{int(device is not None)}.{n}", known_device=device)
        while True:
            try:
                await auth.authenticate(EMAIL, f"guess {n} {accepted}", client)
            except InvalidCredentials:
                accepted += 1
            except RateLimited:
                break
    return accepted


async def real_user_wait(auth: SessionJWT, device: str | None) -> int:
    """From a new address: one typo, then the right password; seconds until it is let in."""
    client = ClientInfo(ip="192.0.2.1", known_device=device)
    try:
        await auth.authenticate(EMAIL, "correct horse battery stapel", client)
    except (InvalidCredentials, RateLimited):
        pass
    try:
        await auth.authenticate(EMAIL, PASSWORD, client)
    except RateLimited as refused:
        return refused.retry_after
    return 0


async def scenario(addresses: int, hours: int) -> tuple[list[int], int, int, int, int]:
    with tempfile.TemporaryDirectory() as data_dir:
        clock = ManualClock(T0)
        settings = pinned_settings(Path(data_dir), login_rate_limit_ip="1000000/minute")
        async with SessionJWT(settings, clock=clock) as auth:
            await auth.register(EMAIL, PASSWORD)
            signed_in = await auth.sign_in(EMAIL, PASSWORD, ClientInfo(ip="203.0.113.7"))
            cookie = signed_in.known_device
            clock.advance(HOUR)  # a while ago, at home
            per_hour = await attack(auth, clock, addresses, hours)
            without = await real_user_wait(auth, None)
            with_cookie = await real_user_wait(auth, cookie)
            fresh = await fresh_address_guesses(auth, None)
            stolen = await fresh_address_guesses(auth, signed_in.known_device)
            return per_hour, without, with_cookie, fresh, stolen


def describe(per_hour: Sequence[int]) -> str:
    later = per_hour[1:]
    steady = f", then {sum(later) / len(later):.0f}/hour" if later else ""
    return f"{per_hour[0]} in the first hour{steady}"


async def run(address_counts: Sequence[int], hours: int) -> None:
    print(machine())
    defaults = pinned_settings(Path(tempfile.gettempdir()))
    print(
        f"settings: ceiling {defaults.login_failures_per_account} per account, "
        f"{defaults.login_backoff_free_failures} free failures per (account, address), "
        f"cap {defaults.login_backoff_cap.total_seconds():.0f} s, known device "
        f"{defaults.login_known_device_failures} failures"
    )
    for count in address_counts:
        per_hour, without, with_cookie, fresh, stolen = await scenario(count, hours)
        print(f"{count:>5} rotating addresses: guesses reaching argon2: {describe(per_hour)}")
        print(
            f"      real user, one typo from a new address: wait {without} s without the "
            f"known-device cookie, {with_cookie} s with it"
        )
        print(
            f"      then 5 new addresses guess until refused: {fresh} guesses; presenting "
            f"the real user's stolen cookie: {stolen}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addresses", default="20,1000", help="comma-separated counts")
    parser.add_argument("--hours", type=at_least(1), default=2)
    args = parser.parse_args(argv)
    counts = [at_least(1)(value) for value in args.addresses.split(",")]
    asyncio.run(run(counts, args.hours))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
