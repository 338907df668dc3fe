"""Does login or password-reset time reveal whether an account exists? Known vs unknown email.

Logins (wrong password) go through ``SessionJWT.login`` exactly as the HTTP route does —
throttles, lookup, argon2 (production parameters: the dummy hash of an unknown email must cost
what a real one does), audit row. Reset requests go through
``SessionJWT.request_password_reset``, the one call of ``POST /auth/password-reset``, with
SMTP on (a local server): the time until it returns, which is when the route answers. The
work it leaves in the background (the reset row, the audit row, the mail) is waited for,
untimed, before the next attempt, so it is billed to neither row. Known and unknown are
interleaved attempt by attempt in a random order, so machine noise lands on both alike. Each
attempt comes from its own client address, so the escalating delay never refuses one (it is
measured, not avoided: its claim and count run every time). Prints the medians and their
difference in percent against the target (< 5 %), for logins, then for resets.

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
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence

from tests.mail import Inbox, smtp_server

from benchmarks.common import at_least, gc_paused, machine, pinned_settings
from sessionjwt import InvalidCredentials, SessionJWT, Settings
from sessionjwt.client import ClientInfo

TARGET_PERCENT = 5.0
KNOWN = "known@example.com"
UNKNOWN = "nobody-here@example.com"
PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"
RESET_URL = "https://app.bench.test/reset?token={token}"

# One timed attempt: the service, the email, the attempt's index; milliseconds.
Attempt = Callable[[SessionJWT, str, int], Awaitable[float]]


def production_argon2() -> dict[str, int]:
    fields = Settings.model_fields
    return {
        name: fields[name].default
        for name in ("argon2_time_cost", "argon2_memory_cost_kib", "argon2_parallelism")
    }


def fresh_client(index: int) -> ClientInfo:
    return ClientInfo.build(f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}", "bench")


async def attempt(auth: SessionJWT, email: str, index: int) -> float:
    """One wrong-password login from a fresh address; its duration in milliseconds."""
    client = fresh_client(index)
    started = time.perf_counter_ns()
    try:
        await auth.login(email, WRONG, client)
    except InvalidCredentials:
        pass
    else:
        raise AssertionError("a wrong password logged in")
    return (time.perf_counter_ns() - started) / 1e6


async def reset_attempt(auth: SessionJWT, email: str, index: int) -> float:
    """One reset request from a fresh address; the milliseconds until the route could answer.

    Then, untimed, what it left in the background finishes (the mail reaches the server)."""
    client = fresh_client(index)
    started = time.perf_counter_ns()
    await auth.request_password_reset(email, client)
    elapsed = time.perf_counter_ns() - started
    await auth.components.after_answer.drain()
    return elapsed / 1e6


def shuffled_pairs(tries: int) -> list[bool]:
    """A known and an unknown attempt per pair (True: known), neither always first."""
    shuffle = random.Random(5)
    order: list[bool] = []
    for _ in range(tries):
        pair = [True, False]
        shuffle.shuffle(pair)
        order += pair
    return order


def shuffled(tries: int) -> list[bool]:
    """``tries`` known and ``tries`` unknown attempts (True: known) in a random order.

    What an attempt leaves behind (a reset's background work: the mail, the rows) slows
    whatever comes next, and not only the very next attempt. In shuffled pairs an unknown
    attempt follows a known one three times as often as a known one does; in one shuffle of
    all attempts the attempts before either row are alike, at every distance."""
    order = [True] * tries + [False] * tries
    random.Random(5).shuffle(order)
    return order


async def interleaved(
    auth: SessionJWT, timed: Attempt, tries: int, warmup: int, order: list[bool]
) -> tuple[list[float], list[float]]:
    """``tries`` attempts for each email after ``warmup`` untimed ones, in ``order``."""
    for index in range(warmup):
        await timed(auth, (KNOWN, UNKNOWN)[index % 2], index)
    known: list[float] = []
    unknown: list[float] = []
    with gc_paused():
        for index, is_known in enumerate(order, start=warmup):
            email, samples = (KNOWN, known) if is_known else (UNKNOWN, unknown)
            samples.append(await timed(auth, email, index))
    return known, unknown


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
            return await interleaved(auth, attempt, tries, warmup, shuffled_pairs(tries))


async def run_resets(tries: int, warmup: int) -> tuple[list[float], list[float]]:
    inbox = Inbox(re.compile(r"token=([A-Za-z0-9_-]+)"))
    with tempfile.TemporaryDirectory() as directory, smtp_server(inbox) as port:
        settings = pinned_settings(
            Path(directory),
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            password_reset_url=RESET_URL,
            password_reset_rate_limit_ip="1000000/minute",
            password_reset_rate_limit_email="1000000/hour",
        )
        async with SessionJWT(settings) as auth:
            await auth.register(KNOWN, PASSWORD)
            samples = await interleaved(auth, reset_attempt, tries, warmup, shuffled(tries))
        mailed = len(inbox.mails_to(KNOWN))
        if mailed != tries + (warmup + 1) // 2 or inbox.mails_to(UNKNOWN):
            raise AssertionError(f"{mailed} reset mails to the known address, or some elsewhere")
        return samples


def compare(label: str, known: Sequence[float], unknown: Sequence[float]) -> bool:
    """Print both medians and their difference against the target; whether it is met."""
    known_median = statistics.median(known)
    unknown_median = statistics.median(unknown)
    difference = (unknown_median - known_median) / known_median * 100
    print(f"{label}known email   median {known_median:8.3f} ms")
    print(f"{label}unknown email median {unknown_median:8.3f} ms")
    within = abs(difference) < TARGET_PERCENT
    print(
        f"{label}difference of medians: {difference:+.2f}% "
        f"(target < {TARGET_PERCENT:.0f}%: {'met' if within else 'NOT met'})"
    )
    return within


def report(
    logins: tuple[Sequence[float], Sequence[float]],
    resets: tuple[Sequence[float], Sequence[float]],
    cheap: bool,
) -> bool:
    argon2 = (
        "cheap (smoke run)"
        if cheap
        else ", ".join(f"{k}={v}" for k, v in production_argon2().items())
    )
    print(machine())
    print(f"argon2: {argon2}; {len(logins[0])} tries each, interleaved, wrong password")
    login_within = compare("", *logins)
    print(
        f"password reset: {len(resets[0])} tries each, interleaved, SMTP on 127.0.0.1; "
        "until the route can answer"
    )
    reset_within = compare("reset ", *resets)
    return login_within and reset_within


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tries", type=at_least(1), default=500, help="attempts per row")
    parser.add_argument("--warmup", type=at_least(0), default=10)
    parser.add_argument(
        "--cheap-argon2", action="store_true", help="test-suite hashing (smoke runs only)"
    )
    options = parser.parse_args(argv)
    logins = asyncio.run(run(options.tries, options.warmup, options.cheap_argon2))
    resets = asyncio.run(run_resets(options.tries, options.warmup))
    report(logins, resets, options.cheap_argon2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
