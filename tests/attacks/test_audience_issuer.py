"""Who the token is from and for, and what it points at: ``iss``, ``aud``, ``sub``, ``sid``,
plus duplicate JSON members, which different parsers resolve differently.

Every token here is signed with the server's real key, so only claim validation can refuse it.
"""

from __future__ import annotations

import json

import httpx
import pytest

from sessionjwt.keys.ring import SigningKey
from tests.attacks.conftest import sign_in
from tests.attacks.expect import (
    Victim,
    assert_attack_refused,
    assert_signed_in,
    assert_victim_unharmed,
)
from tests.attacks.forge import (
    segment,
    sign_as_server,
    signed_by_us,
    text_segment,
    with_raw_member,
    without,
)
from tests.conftest import AUDIENCE, ISSUER


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param("https://other-api.example.test", id="other-service"),
        pytest.param(AUDIENCE + "/", id="trailing-slash"),
        pytest.param(AUDIENCE.upper(), id="upper-case"),
        pytest.param("", id="empty"),
        pytest.param(1, id="integer"),
        pytest.param(None, id="null"),
        pytest.param({"aud": AUDIENCE}, id="object-holding-ours"),
        pytest.param(["https://other-api.example.test"], id="list-without-ours"),
        pytest.param([], id="empty-list"),
        pytest.param([AUDIENCE, 1], id="list-with-ours-and-a-non-string"),
        pytest.param([[AUDIENCE]], id="nested-list-holding-ours"),
    ],
)
async def test_wrong_audience(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, aud: object
) -> None:
    payload = segment({**victim.claims, "aud": aud})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="audience is not this service"
    )


async def test_missing_audience(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    payload = segment(without(victim.claims, "aud"))

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="audience is not this service"
    )


async def test_audience_list_that_includes_ours_is_accepted(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """RFC 7519 §4.1.3: ``aud`` may be a list; being one of several audiences is enough."""
    payload = segment({**victim.claims, "aud": ["https://other-api.example.test", AUDIENCE]})

    await assert_signed_in(client, victim, signed_by_us(ours, payload))


@pytest.mark.parametrize(
    "iss",
    [
        pytest.param("https://evil.example.test", id="other-issuer"),
        pytest.param(ISSUER + "/", id="trailing-slash"),
        pytest.param(ISSUER.upper(), id="upper-case"),
        pytest.param("", id="empty"),
        pytest.param(None, id="null"),
        pytest.param([ISSUER], id="list-holding-ours"),
    ],
)
async def test_wrong_issuer(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, iss: object
) -> None:
    payload = segment({**victim.claims, "iss": iss})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="issuer is not this service"
    )


async def test_missing_issuer(client: httpx.AsyncClient, victim: Victim, ours: SigningKey) -> None:
    payload = segment(without(victim.claims, "iss"))

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="issuer is not this service"
    )


NOT_AN_IDENTIFIER = [
    pytest.param(12345, id="integer"),
    pytest.param(None, id="null"),
    pytest.param(True, id="boolean"),
    pytest.param([], id="empty-list"),
    pytest.param({}, id="object"),
    pytest.param("", id="empty-string"),
    pytest.param("x" * 129, id="129-characters"),
]


@pytest.mark.parametrize("claim", ["sub", "sid"])
@pytest.mark.parametrize("value", NOT_AN_IDENTIFIER)
async def test_sub_or_sid_that_is_not_a_non_empty_string(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str, value: object
) -> None:
    payload = segment({**victim.claims, claim: value})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because=f"'{claim}' must be a non-empty string"
    )


@pytest.mark.parametrize("claim", ["sub", "sid"])
async def test_sub_or_sid_as_a_list_holding_the_real_value(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str
) -> None:
    payload = segment({**victim.claims, claim: [victim.claims[claim]]})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because=f"'{claim}' must be a non-empty string"
    )


async def test_subject_that_does_not_own_the_session(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """Another real user's ``sub`` with the victim's ``sid``: the session names its owner."""
    other = await sign_in(client, "other@example.com")
    payload = segment({**victim.claims, "sub": other.user_id})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="subject does not own its session"
    )
    await assert_victim_unharmed(client, other)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        pytest.param("roles", "admin", id="roles-as-a-string"),
        pytest.param("roles", ["user", 1], id="roles-with-a-non-string"),
        pytest.param("client_id", 7, id="client_id-as-an-integer"),
    ],
)
async def test_other_claims_of_the_wrong_type(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str, value: object
) -> None:
    payload = segment({**victim.claims, claim: value})

    await assert_attack_refused(client, victim, signed_by_us(ours, payload), because=f"'{claim}'")


@pytest.mark.parametrize("claim", ["sub", "sid", "exp", "aud", "iss"])
async def test_duplicate_member_in_payload(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str
) -> None:
    """``{"sub": victim, ..., "sub": other}``: first-wins and last-wins parsers disagree."""
    other = await sign_in(client, "other@example.com")
    second = {
        "sub": other.user_id,
        "sid": other.session_id,
        "exp": victim.claims["exp"] + 365 * 86400,
        "aud": "https://other-api.example.test",
        "iss": "https://evil.example.test",
    }[claim]
    payload = text_segment(with_raw_member(victim.claims, claim, json.dumps(second)))

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because=f"duplicate JSON member '{claim}'"
    )
    await assert_victim_unharmed(client, other)


@pytest.mark.parametrize(
    ("header_text", "member"),
    [
        pytest.param('{"alg":"none","kid":KID,"typ":"at+jwt","alg":"EdDSA"}', "alg", id="alg"),
        pytest.param('{"alg":"EdDSA","kid":"evil","kid":KID,"typ":"at+jwt"}', "kid", id="kid"),
        pytest.param('{"alg":"EdDSA","kid":KID,"typ":"JWT","typ":"at+jwt"}', "typ", id="typ"),
    ],
)
async def test_duplicate_member_in_header(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, header_text: str, member: str
) -> None:
    """A last-wins parser would read each of these as the server's own header."""
    header = text_segment(header_text.replace("KID", json.dumps(ours.kid)))
    token = sign_as_server(ours, header, victim.payload_segment)

    await assert_attack_refused(client, victim, token, because=f"duplicate JSON member '{member}'")
