"""SQL-shaped and Unicode-confusable emails at registration and login.

The rules: nothing answers 5xx; an address is only ever a bound parameter; normalisation folds
what is *the same address* (width, letter case) and nothing else, so it never merges two
distinct accounts and a confusable spelling never signs into somebody else's account.
"""

from __future__ import annotations

import httpx
import pytest

from tests.attacks.conftest import sign_in
from tests.attacks.expect import Victim, assert_victim_unharmed
from tests.conftest import PASSWORD

MALLORY_PASSWORD = "mallory's own long passphrase"

SQL_SHAPED = [
    pytest.param("' OR 1=1 --@x.io", id="or-1-eq-1-with-spaces"),
    pytest.param("'OR'1'='1'--@x.io", id="or-1-eq-1-as-atext"),
    pytest.param("victim@example.com' --", id="comment-after-a-real-address"),
    pytest.param("x'; DROP TABLE users; --@x.io", id="drop-table"),
    pytest.param('"\'; DELETE FROM sessions; --"@x.io', id="quoted-local-part"),
    pytest.param("%@x.io", id="like-wildcard"),
    pytest.param("_ictim@example.com", id="like-single-char-wildcard"),
    pytest.param("victim@example.com\u0000", id="nul-byte"),
]


async def register(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/register", json={"email": email, "password": password})


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


@pytest.mark.parametrize("email", SQL_SHAPED)
async def test_sql_shaped_email_is_data(
    client: httpx.AsyncClient, victim: Victim, email: str
) -> None:
    """Registered as the literal address it is (201), or refused as not an address (422);
    with the victim's password it never signs into the victim's account."""
    registered = await register(client, email, MALLORY_PASSWORD)
    assert registered.status_code in (201, 422), registered.text
    if registered.status_code == 422:
        assert registered.json()["error"] in ("invalid_email", "validation_error")
    else:
        assert registered.json()["email"] == email.strip()

    as_victim = await login(client, email, PASSWORD)
    assert as_victim.status_code == 401, as_victim.text
    assert as_victim.json()["error"] == "invalid_credentials"
    as_herself = await login(client, email, MALLORY_PASSWORD)
    assert as_herself.status_code == (200 if registered.status_code == 201 else 401)
    await assert_victim_unharmed(client, victim)
    assert (await login(client, victim.email, PASSWORD)).status_code == 200  # table intact


# Spellings that are the same address as victim@example.com: folded onto it.
SAME_ADDRESS = [
    pytest.param("VICTIM@EXAMPLE.COM", id="upper-case"),
    pytest.param("\uff56\uff49\uff43\uff54\uff49\uff4d@example.com", id="fullwidth"),
    pytest.param(" victim@example.com ", id="surrounding-spaces"),
]

# Look-alikes of victim@example.com that are other addresses: other accounts.
LOOK_ALIKES = [
    pytest.param("v\u0456ctim@example.com", id="cyrillic-i"),
    pytest.param("victim@ex\u0430mple.com", id="cyrillic-a-in-the-domain"),
    pytest.param("vi\u0301ctim@example.com", id="combining-acute"),
    pytest.param("v\u0131ctim@example.com", id="dotless-i"),
    pytest.param("victim\u200b@example.com", id="zero-width-space"),
]


@pytest.mark.parametrize("email", SAME_ADDRESS)
async def test_same_address_in_another_spelling_cannot_register_again(
    client: httpx.AsyncClient, victim: Victim, email: str
) -> None:
    registered = await register(client, email, MALLORY_PASSWORD)

    assert registered.status_code == 409, registered.text
    assert registered.json()["error"] == "email_taken"
    refused = await login(client, email, MALLORY_PASSWORD)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_credentials"
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize("email", SAME_ADDRESS)
async def test_same_address_in_another_spelling_signs_the_owner_in(
    client: httpx.AsyncClient, victim: Victim, email: str
) -> None:
    """The fold above is real: it finds the one account (with its own password only)."""
    response = await login(client, email, PASSWORD)

    assert response.status_code == 200, response.text
    me = await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["id"] == victim.user_id


@pytest.mark.parametrize("email", LOOK_ALIKES)
async def test_look_alike_is_another_account_or_refused(
    client: httpx.AsyncClient, victim: Victim, email: str
) -> None:
    """Mallory registers a look-alike: a separate account (or 422), never a way into the
    victim's, and the victim's account neither merges with it nor loses its password."""
    registered = await register(client, email, MALLORY_PASSWORD)
    assert registered.status_code in (201, 422), registered.text
    if registered.status_code == 201:
        assert registered.json()["id"] != victim.user_id
        mallory = await sign_in_with(client, email, MALLORY_PASSWORD)
        assert mallory != victim.user_id
    else:
        assert registered.json()["error"] == "invalid_email"

    assert (await login(client, email, PASSWORD)).json()["error"] == "invalid_credentials"
    assert (await login(client, victim.email, MALLORY_PASSWORD)).status_code == 401
    await assert_victim_unharmed(client, victim)
    assert (await login(client, victim.email, PASSWORD)).status_code == 200


async def sign_in_with(client: httpx.AsyncClient, email: str, password: str) -> str:
    """Log in; the id of the account it signed into."""
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    me = await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    user_id: str = me.json()["id"]
    return user_id


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("strasse@example.com", "straße@example.com", id="sharp-s-in-the-local-part"),
        pytest.param("alice@strasse.de", "alice@straße.de", id="sharp-s-in-the-domain"),
    ],
)
async def test_case_folding_never_merges_two_real_addresses(
    client: httpx.AsyncClient, first: str, second: str
) -> None:
    """``straße.de`` and ``strasse.de`` are two registrable domains (IDNA2008), ``straße`` and
    ``strasse`` two mailboxes: full case folding (ß → ss) would make them one account, so
    the owner of one could sign in with the other's address and block its registration."""
    owner = await sign_in(client, first)
    other = await register(client, second, MALLORY_PASSWORD)

    assert other.status_code == 201, other.text
    assert other.json()["id"] != owner.user_id
    assert await sign_in_with(client, second, MALLORY_PASSWORD) == other.json()["id"]
    refused = await login(client, second, PASSWORD)  # the first account's password
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_credentials"
    await assert_victim_unharmed(client, owner)


async def test_capital_sharp_s_is_the_same_address_as_its_lower_case(
    client: httpx.AsyncClient,
) -> None:
    """Upper/lower case of ß (U+1E9E ẞ) is still one address."""
    owner = await sign_in(client, "straße@example.com")

    assert await sign_in_with(client, "STRA\u1e9eE@example.com", PASSWORD) == owner.user_id
