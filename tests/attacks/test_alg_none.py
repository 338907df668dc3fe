"""``alg: none`` in every spelling: a token that asks not to be verified.

The header names the server's real ``kid`` so the attack gets past the key look-up; the key pins
EdDSA, so no spelling of "none" (nor a null or absent ``alg``) can select anything.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import Victim, assert_attack_refused
from tests.attacks.forge import segment

NONE_ALGS = [
    pytest.param({"alg": "none"}, id="none"),
    pytest.param({"alg": "None"}, id="None"),
    pytest.param({"alg": "NONE"}, id="NONE"),
    pytest.param({"alg": "nOnE"}, id="nOnE"),
    pytest.param({"alg": None}, id="json-null"),
    pytest.param({}, id="missing-alg"),
]


@pytest.mark.parametrize("alg", NONE_ALGS)
async def test_alg_none_with_empty_signature(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, alg: dict[str, Any]
) -> None:
    header = segment({**alg, "kid": ours.kid, "typ": "at+jwt"})
    forged = victim.spliced(header=header, signature="")  # the victim's real sub and sid

    await assert_attack_refused(client, victim, forged, because="algorithm does not match its key")


@pytest.mark.parametrize("alg", NONE_ALGS)
async def test_alg_none_with_the_real_signature_kept(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, alg: dict[str, Any]
) -> None:
    header = segment({**alg, "kid": ours.kid, "typ": "at+jwt"})
    forged = victim.spliced(header=header)

    await assert_attack_refused(client, victim, forged, because="algorithm does not match its key")


async def test_alg_none_with_an_escalated_payload(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """The attacker's dream token: victim's sub/sid, admin, valid for a century, unsigned."""
    header = segment({"alg": "none", "kid": ours.kid, "typ": "at+jwt"})
    claims = victim.claims
    payload = segment({**claims, "roles": ["admin"], "exp": claims["exp"] + 100 * 365 * 86400})
    forged = f"{header}.{payload}."

    await assert_attack_refused(client, victim, forged, because="algorithm does not match its key")


async def test_alg_none_without_a_kid(client: httpx.AsyncClient, victim: Victim) -> None:
    """The classic form, as most libraries' examples write it: no kid at all."""
    header = segment({"alg": "none", "typ": "at+jwt"})
    forged = victim.spliced(header=header, signature="")

    await assert_attack_refused(client, victim, forged, because="no usable kid")
