"""Does login time reveal whether an account exists? Known vs unknown email, wrong password.

Both go through ``SessionJWT.login`` exactly as the HTTP route does — throttles, lookup,
argon2 (production parameters: the dummy hash of an unknown email must cost what a real one
does), audit row — and are interleaved attempt by attempt in a random order, so machine noise
lands on both alike. Each attempt comes from its own client address, so the escalating delay
never refuses one (it is measured, not avoided: its claim and count run every time). Prints
the medians and their difference in percent against the target (< 5 %).

    python benchmarks/enumeration.py            # 500 tries each (make bench-enumeration)
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Sequence

from benchmarks.common import at_least, gc_paused, machine, pinned_settings
from sessionjwt import InvalidCredentials, SessionJWT, Settings
from sessionjwt.client import ClientInfo

TARGET_PERCENT = 5.0
KNOWN = "known@example.com"
UNKNOWN = "nobody-here@example.com"
PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"


def production_argon2() -> dict[str, int]:
    fields = Settings.model_fields
    return {
        name: fields[name].default
        for name in ("argon2_time_cost", "argon2_memory_cost_kib", "argon2_parallelism")
    }


async def attempt(auth: SessionJWT, email: str, index: int) -> float:
    """One wrong-password login from a fresh address; its duration in milliseconds."""
    client = ClientInfo.build(f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}", "bench")
    started = time.perf_counter_ns()
    try:
        await auth.login(email, WRONG, client)
    except InvalidCredentials:
        pass
    else:
        raise AssertionError("a wrong password logged in")
    return (time.perf_counter_ns() - started) / 1e6


async def run(tries: int, warmup: int, cheap: bool) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as directory:
        settings = pinned_settings(
            Path(directory),
            **({} if cheap else production_argon2()),
            login_rate_limit_ip="1000000/minute",
            login_failures_per_account="1000000/hour",
        )
        async with SessionJWT(settings) as auth:
            await auth.register(KNOWN, PASSWORD)
            for index in range(warmup):
                await attempt(auth, (KNOWN, UNKNOWN)[index % 2], index)
            known: list[float] = []
            unknown: list[float] = []
            shuffle = random.Random(5)
            with gc_paused():
                for index in range(tries):
                    pair = [(KNOWN, known), (UNKNOWN, unknown)]
                    shuffle.shuffle(pair)  # neither always runs first
                    for offset, (email, samples) in enumerate(pair):
                        samples.append(await attempt(auth, email, warmup + 2 * index + offset))
            return known, unknown


def report(known: Sequence[float], unknown: Sequence[float], cheap: bool) -> bool:
    known_median = statistics.median(known)
    unknown_median = statistics.median(unknown)
    difference = (unknown_median - known_median) / known_median * 100
    argon2 = (
        "cheap (smoke run)"
        if cheap
        else ", ".join(f"{k}={v}" for k, v in production_argon2().items())
    )
    print(machine())
    print(f"argon2: {argon2}; {len(known)} tries each, interleaved, wrong password")
    print(f"known email   median {known_median:8.2f} ms")
    print(f"unknown email median {unknown_median:8.2f} ms")
    within = abs(difference) < TARGET_PERCENT
    print(
        f"difference of medians: {difference:+.2f}% "
        f"(target < {TARGET_PERCENT:.0f}%: {'met' if within else 'NOT met'})"
    )
    return within


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tries", type=at_least(1), default=500, help="attempts per row")
    parser.add_argument("--warmup", type=at_least(0), default=10)
    parser.add_argument(
        "--cheap-argon2", action="store_true", help="test-suite hashing (smoke runs only)"
    )
    options = parser.parse_args(argv)
    known, unknown = asyncio.run(run(options.tries, options.warmup, options.cheap_argon2))
    report(known, unknown, options.cheap_argon2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
