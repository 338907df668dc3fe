"""The hostile variants every verifier must refuse, built from a live token."""

from __future__ import annotations

from tests.attacks.forge import decode_segment, segment, split


def flip_payload_char(token: str) -> str:
    """One character in the middle of the payload changed: the signature no longer matches."""
    header, payload, signature = split(token)
    middle = len(payload) // 2
    replacement = "B" if payload[middle] != "B" else "C"
    return f"{header}.{payload[:middle]}{replacement}{payload[middle + 1 :]}.{signature}"


def alg_none(token: str) -> str:
    """The same header and payload, ``alg`` set to ``none`` and the signature dropped."""
    header, payload, _ = split(token)
    return f"{segment({**decode_segment(header), 'alg': 'none'})}.{payload}."


def hostile_variants(token: str) -> dict[str, str]:
    return {"tampered": flip_payload_char(token), "alg_none": alg_none(token)}
