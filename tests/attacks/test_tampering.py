"""Tampering: a genuine token with its header or payload edited, or its signature damaged.

The signature covers the exact header and payload bytes, and is checked before any claim is read.
"""

from __future__ import annotations

import httpx

from sessionjwt.keys.ring import SigningKey
from tests.attacks.conftest import sign_in
from tests.attacks.expect import (
    Victim,
    assert_attack_refused,
    assert_signed_in,
    assert_victim_unharmed,
    attack,
)
from tests.attacks.forge import segment, server_header, signed_by_us

BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
A_YEAR = 365 * 86400


async def test_sub_swapped_to_another_real_user_signature_kept(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    other = await sign_in(client, "other@example.com")
    forged = victim.spliced(payload=segment({**victim.claims, "sub": other.user_id}))

    await assert_attack_refused(client, victim, forged, because="signature is invalid")
    await assert_victim_unharmed(client, other)


async def test_attacker_points_own_token_at_the_victims_session(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """Mallory keeps her own signature and swaps in the victim's sub and sid."""
    mallory = await sign_in(client, "mallory@example.com")
    payload = segment({**mallory.claims, "sub": victim.user_id, "sid": victim.session_id})
    forged = mallory.spliced(payload=payload)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")
    await assert_victim_unharmed(client, mallory)


async def test_roles_escalated_to_admin_signature_kept(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    forged = victim.spliced(payload=segment({**victim.claims, "roles": ["admin"]}))

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_exp_extended_by_a_year_signature_kept(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    payload = segment({**victim.claims, "exp": victim.claims["exp"] + A_YEAR})
    forged = victim.spliced(payload=payload)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_same_claims_re_serialised_signature_kept(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """Semantically identical JSON (other member order) is other bytes: still refused."""
    reordered = dict(reversed(list(victim.claims.items())))
    payload = segment(reordered)
    assert payload != victim.payload_segment
    forged = victim.spliced(payload=payload)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_signature_truncated(client: httpx.AsyncClient, victim: Victim) -> None:
    forged = victim.access_token[:-4]

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_signature_cut_to_a_length_base64_cannot_have(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    forged = victim.access_token[:-1]  # 85 characters: 1 mod 4 is never valid base64

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_signature_removed(client: httpx.AsyncClient, victim: Victim) -> None:
    forged = victim.spliced(signature="")

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_signature_with_one_character_flipped(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    signature = victim.signature_segment
    flipped = "B" if signature[10] == "A" else "A"  # a middle character: 6 real bits change
    damaged = signature[:10] + flipped + signature[11:]
    forged = victim.spliced(signature=damaged)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_signature_with_non_canonical_trailing_bits(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """Same 64 signature bytes, different text: the last character's 4 unused bits set.

    A lenient base64 decoder maps both strings to one signature; accepting it would let anyone
    mint distinct-but-valid copies of a token (cache flooding, deny lists keyed by string).
    """
    signature = victim.signature_segment
    assert len(signature) == 86  # Ed25519: 64 bytes → 86 characters, last one 2 bits + 4 unused
    last = BASE64URL.index(signature[-1])
    assert last & 0b1111 == 0
    malleated = signature[:-1] + BASE64URL[last | 0b0001]
    forged = victim.spliced(signature=malleated)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_signature_with_a_character_base64url_does_not_have(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    """``~`` passes the Bearer syntax of RFC 6750 and a lenient decoder would drop it."""
    signature = victim.signature_segment
    forged = victim.spliced(signature=f"{signature[:20]}~{signature[20:]}")

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_typ_removed_from_header_signature_kept(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    header = segment({"alg": ours.alg, "kid": ours.kid})
    forged = victim.spliced(header=header)

    await assert_attack_refused(client, victim, forged, because="typ must be at+jwt")


async def test_header_changed_within_policy_signature_kept(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """A header the policy would accept, but not the one that was signed: the signature covers
    the header bytes too."""
    header = segment(server_header(ours, typ="application/at+jwt"))
    assert header != victim.header_segment
    forged = victim.spliced(header=header)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_correctly_signed_admin_role_claim_grants_nothing(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """Even with the server's key, ``roles`` in the token is not authority: the principal's
    roles come from the account in the store."""
    payload = segment({**victim.claims, "roles": ["admin"]})
    token = signed_by_us(ours, payload)

    response = await attack(client, token)

    assert response.status_code == 200, response.text
    assert response.json()["roles"] == []
    await assert_signed_in(client, victim, token)
    await assert_victim_unharmed(client, victim)
