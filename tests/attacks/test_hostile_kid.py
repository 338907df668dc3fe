"""Hostile ``kid`` values: the kid is only ever a dictionary key, never a path, a query or a
command, and anything but a known string is refused before the signature is even looked at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import (
    Victim,
    assert_attack_refused,
    assert_refused,
    assert_victim_unharmed,
    attack,
)
from tests.attacks.forge import segment, sign


def attacker_signed(header: dict[str, Any], victim: Victim) -> str:
    """The victim's claims under ``header``, signed with a key of the attacker's own."""
    attacker_key = ed25519.Ed25519PrivateKey.generate()
    return sign("EdDSA", attacker_key, segment(header), victim.payload_segment)


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("attacker-key-1", id="unknown"),
        pytest.param("../../../../etc/passwd", id="path-traversal"),
        pytest.param("/dev/null", id="absolute-path"),
        pytest.param("' OR 1=1 --", id="sql-injection"),
        pytest.param("x' UNION SELECT private_key_encrypted FROM signing_keys --", id="sql-union"),
        pytest.param("; rm -rf /", id="shell-semicolon"),
        pytest.param("", id="empty-string"),
        pytest.param("k" * 4096, id="4kB-string-under-the-size-limit"),
    ],
)
async def test_string_kid_that_names_no_key(
    client: httpx.AsyncClient, victim: Victim, kid: str
) -> None:
    forged = attacker_signed({"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}, victim)

    await assert_attack_refused(client, victim, forged, because="signed by an unknown key")


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda kid: kid.swapcase(), id="case-swapped"),
        pytest.param(lambda kid: f" {kid}", id="leading-space"),
        pytest.param(lambda kid: f"{kid}\u0000", id="trailing-nul"),
        pytest.param(lambda kid: kid[:-1], id="truncated"),
        pytest.param(lambda kid: f"{kid}/../{kid}", id="traversal-around-ours"),
    ],
)
async def test_near_miss_of_our_kid(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, variant: Callable[[str], str]
) -> None:
    """Look-alikes of the real kid match nothing (no normalisation, no prefix match)."""
    kid = variant(ours.kid)
    assert kid != ours.kid
    forged = attacker_signed({"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}, victim)

    await assert_attack_refused(client, victim, forged, because="signed by an unknown key")


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("$(touch {marker})", id="dollar-paren"),
        pytest.param("`touch {marker}`", id="backticks"),
        pytest.param("; touch {marker}", id="semicolon"),
        pytest.param("| touch {marker}", id="pipe"),
        pytest.param("&& touch {marker}", id="and-and"),
    ],
)
async def test_kid_with_shell_command_injection(
    client: httpx.AsyncClient, victim: Victim, tmp_path: Path, template: str
) -> None:
    marker = tmp_path / "pwned"
    forged = attacker_signed(
        {"alg": "EdDSA", "kid": template.format(marker=marker), "typ": "at+jwt"}, victim
    )

    assert_refused(await attack(client, forged), because="signed by an unknown key")
    assert not marker.exists()
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize(
    "kid_member",
    [
        pytest.param({"kid": 1}, id="integer"),
        pytest.param({"kid": None}, id="null"),
        pytest.param({"kid": True}, id="boolean"),
        pytest.param({}, id="missing"),
    ],
)
async def test_kid_that_is_not_a_string(
    client: httpx.AsyncClient, victim: Victim, kid_member: dict[str, Any]
) -> None:
    forged = attacker_signed({"alg": "EdDSA", **kid_member, "typ": "at+jwt"}, victim)

    await assert_attack_refused(client, victim, forged, because="no usable kid")


async def test_kid_as_a_list_holding_our_kid(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    forged = attacker_signed({"alg": "EdDSA", "kid": [ours.kid], "typ": "at+jwt"}, victim)

    await assert_attack_refused(client, victim, forged, because="no usable kid")


async def test_kid_as_an_object_holding_our_kid(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    forged = attacker_signed({"alg": "EdDSA", "kid": {"kid": ours.kid}, "typ": "at+jwt"}, victim)

    await assert_attack_refused(client, victim, forged, because="no usable kid")


async def test_kid_of_10_kB_is_refused_by_size_before_parsing(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    forged = attacker_signed({"alg": "EdDSA", "kid": "k" * 10_240, "typ": "at+jwt"}, victim)

    await assert_attack_refused(client, victim, forged, because="larger than this service accepts")
