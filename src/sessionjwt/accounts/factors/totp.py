"""RFC 6238 codes with pyotp: a new secret, the ``otpauth://`` URI, and which time step a
code belongs to — the step is what makes a code single-use (see :mod:`.store`).

Codes are six digits over 30 s steps (what every authenticator app defaults to); one step
either side is accepted for clock drift, no more. Each candidate is compared in constant
time, and all three are always compared.
"""

from __future__ import annotations

import hmac

import pyotp

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits (RFC 4226's recommended length) in base32, from ``secrets``."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def normalise_code(code: str) -> str | None:
    """``"123 456"`` → ``"123456"``; anything but six digits → None."""
    cleaned = code.replace(" ", "").replace("-", "").strip()
    if len(cleaned) != DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step ``code`` was made for, within the drift allowed at ``now``; else None."""
    cleaned = normalise_code(code)
    if cleaned is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now) // STEP_SECONDS
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), cleaned) and found is None:
            found = step
    return found
