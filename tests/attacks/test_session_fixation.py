"""Session fixation: every login creates a new session with a server-chosen id; a session id
the client supplies, in any place a framework might read one from, is never adopted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.attacks.conftest import sign_in
from tests.attacks.expect import Victim, assert_victim_unharmed
from tests.attacks.forge import claims_of
from tests.conftest import PASSWORD


async def test_every_login_gets_a_new_session_id(client: httpx.AsyncClient, victim: Victim) -> None:
    second = await sign_in(client, victim.email, register=False)
    third = await sign_in(client, victim.email, register=False)

    assert len({victim.session_id, second.session_id, third.session_id}) == 3
    assert claims_of(second.access_token)["sid"] == second.session_id
    await assert_victim_unharmed(client, victim)  # a new login does not end the old session


@pytest.mark.parametrize(
    "place",
    [
        pytest.param("header-x-session-id", id="X-Session-Id"),
        pytest.param("header-session-id", id="Session-Id"),
        pytest.param("cookie", id="cookie"),
        pytest.param("query", id="query-string"),
        pytest.param("bearer", id="victims-bearer-token-sent-along"),
    ],
)
async def test_session_id_supplied_by_the_client_is_ignored(
    client: httpx.AsyncClient, victim: Victim, place: str
) -> None:
    """Mallory plants a session id (the victim's real one, or one she made up); the login
    answers with a fresh id and the planted sessions are unaffected."""
    planted = victim.session_id
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if place == "header-x-session-id":
        headers["X-Session-Id"] = planted
    elif place == "header-session-id":
        headers["Session-Id"] = planted
    elif place == "cookie":
        headers["Cookie"] = f"session_id={planted}; sid={planted}; sessionid={planted}"
    elif place == "query":
        params = {"session_id": planted, "sid": planted}
    else:
        headers["Authorization"] = f"Bearer {victim.access_token}"

    response = await client.post(
        "/auth/login",
        json={"email": victim.email, "password": PASSWORD},
        headers=headers,
        params=params,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] != planted
    assert claims_of(body["access_token"])["sid"] == body["session_id"]
    assert not body["refresh_token"].startswith(planted)
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"session_id": "planted-by-mallory-0000000000000"}, id="session_id"),
        pytest.param({"sid": "planted-by-mallory-0000000000000"}, id="sid"),
    ],
)
async def test_session_id_in_the_login_body_is_refused(
    client: httpx.AsyncClient, victim: Victim, extra: dict[str, Any]
) -> None:
    """Unknown body members are refused outright rather than silently dropped."""
    response = await client.post(
        "/auth/login", json={"email": victim.email, "password": PASSWORD, **extra}
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert "access_token" not in response.json()
    await assert_victim_unharmed(client, victim)
