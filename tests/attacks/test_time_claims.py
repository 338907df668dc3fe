"""Time claims: ``exp``/``iat``/``nbf`` judged against the injected clock, and typed exactly.

Tokens other than the victim's own are signed with the server's real key, so that only claim
validation can refuse them: each test pins one check.
"""

from __future__ import annotations

import httpx
import pytest

from sessionjwt import ManualClock, Settings
from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import (
    Victim,
    assert_attack_refused,
    assert_refused,
    assert_signed_in,
    assert_victim_unharmed,
    attack,
)
from tests.attacks.forge import (
    segment,
    signed_by_us,
    text_segment,
    with_raw_member,
    without,
)


def leeway(settings: Settings) -> int:
    return int(settings.leeway.total_seconds())


async def test_expired_token_is_refused_as_token_expired_after_the_leeway(
    client: httpx.AsyncClient, victim: Victim, clock: ManualClock, settings: Settings
) -> None:
    exp = victim.claims["exp"]
    clock.set(exp + leeway(settings) - 1)
    await assert_victim_unharmed(client, victim)  # still inside the leeway

    clock.set(exp + leeway(settings))
    assert_refused(await attack(client, victim.access_token), "token_expired")

    # The session is not harmed: its refresh token mints a working access token.
    refreshed = await client.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    await assert_signed_in(client, victim, refreshed.json()["access_token"])


async def test_expired_token_never_seen_before_is_refused_as_token_expired(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    clock: ManualClock,
    settings: Settings,
) -> None:
    """Not the remembered-verification path: a fresh string, expired on arrival."""
    now = int(clock.now())
    payload = segment({**victim.claims, "iat": now - 3600, "exp": now - leeway(settings)})

    await assert_attack_refused(client, victim, signed_by_us(ours, payload), "token_expired")


async def test_nbf_in_the_future(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    clock: ManualClock,
    settings: Settings,
) -> None:
    nbf = int(clock.now()) + leeway(settings) + 1
    payload = segment({**victim.claims, "nbf": nbf})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="not yet valid"
    )


async def test_nbf_at_the_edge_of_the_leeway_is_accepted(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    clock: ManualClock,
    settings: Settings,
) -> None:
    """The refusal above is about the future, not about ``nbf`` being present."""
    nbf = int(clock.now()) + leeway(settings)
    payload = segment({**victim.claims, "nbf": nbf})

    await assert_signed_in(client, victim, signed_by_us(ours, payload))


async def test_iat_in_the_future(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    clock: ManualClock,
    settings: Settings,
) -> None:
    iat = int(clock.now()) + leeway(settings) + 1
    payload = segment({**victim.claims, "iat": iat, "exp": iat + 900})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="issued in the future"
    )


@pytest.mark.parametrize(
    "raw_exp",
    [
        pytest.param('"9999999999"', id="string"),
        pytest.param("1800000900.0", id="float-with-integral-value"),
        pytest.param("9999999999.5", id="float"),
        pytest.param("1e30", id="1e30"),
        pytest.param("true", id="bool-true"),
        pytest.param("-1", id="negative"),
        pytest.param(str(2**41 + 1), id="beyond-max-numeric-date"),
        pytest.param("[9999999999]", id="list"),
        pytest.param('{"$gt":0}', id="object"),
    ],
)
async def test_exp_of_the_wrong_type(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, raw_exp: str
) -> None:
    payload = text_segment(with_raw_member(without(victim.claims, "exp"), "exp", raw_exp))

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="'exp' must be an integer NumericDate"
    )


@pytest.mark.parametrize(
    ("raw_exp", "because"),
    [
        pytest.param("NaN", "non-standard JSON constant NaN", id="NaN"),
        pytest.param("Infinity", "non-standard JSON constant Infinity", id="Infinity"),
        pytest.param("-Infinity", "non-standard JSON constant -Infinity", id="minus-Infinity"),
        # CPython refuses to convert more than 4300 digits (CVE-2020-10735 quadratic int()).
        pytest.param("9" * 5000, "not UTF-8 JSON", id="5000-digit-integer"),
    ],
)
async def test_exp_that_is_not_standard_json(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, raw_exp: str, because: str
) -> None:
    """Python's json module would parse these; the strict parser refuses the whole payload."""
    payload = text_segment(with_raw_member(without(victim.claims, "exp"), "exp", raw_exp))
    token = signed_by_us(ours, payload)
    assert len(token) <= 8192  # refused for what it says, not for its size

    await assert_attack_refused(client, victim, token, because=because)


@pytest.mark.parametrize("claim", ["exp", "iat"])
async def test_required_time_claim_missing(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str
) -> None:
    payload = segment(without(victim.claims, claim))

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because=f"'{claim}' is required"
    )


async def test_exp_null_counts_as_missing(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    payload = segment({**victim.claims, "exp": None})

    await assert_attack_refused(
        client, victim, signed_by_us(ours, payload), because="'exp' is required"
    )


@pytest.mark.parametrize("claim", ["nbf", "iat", "auth_time"])
async def test_other_time_claim_as_a_string(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str
) -> None:
    payload = segment({**victim.claims, claim: "0"})

    await assert_attack_refused(
        client,
        victim,
        signed_by_us(ours, payload),
        because=f"'{claim}' must be an integer NumericDate",
    )


@pytest.mark.parametrize("claim", ["iat", "nbf"])
@pytest.mark.parametrize(
    "raw_value",
    [
        pytest.param("1800000000.0", id="float-with-integral-value"),
        pytest.param("1.8e9", id="exponent"),
        pytest.param("1e30", id="1e30"),
        pytest.param("false", id="bool-false"),
        pytest.param("-1", id="negative"),
        pytest.param("[0]", id="list"),
        pytest.param('{"$lt":1}', id="object"),
    ],
)
async def test_iat_or_nbf_of_the_wrong_type(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, claim: str, raw_value: str
) -> None:
    payload = text_segment(with_raw_member(without(victim.claims, claim), claim, raw_value))

    await assert_attack_refused(
        client,
        victim,
        signed_by_us(ours, payload),
        because=f"'{claim}' must be an integer NumericDate",
    )
