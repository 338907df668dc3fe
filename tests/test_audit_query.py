"""The audit trail as operators read it: GET /admin/audit and ``sessionjwt audit``."""

from __future__ import annotations

import json

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.errors import InvalidCredentials
from tests.conftest import PASSWORD, T0, bearer, register_and_login
from tests.ops import admin_headers
from tests.test_cli import cli


async def test_admin_reads_the_trail_by_user_event_and_time_newest_first(
    client: httpx.AsyncClient, auth: SessionJWT, clock: ManualClock
) -> None:
    admin = await admin_headers(client, auth)
    await register_and_login(client, "alice@example.com")
    clock.advance(60)
    failed = await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": "not her password"}
    )
    assert failed.status_code == 401

    response = await client.get("/admin/audit", params={"user": "alice@example.com"}, headers=admin)
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [event["event"] for event in events] == ["login_failed", "login_ok", "register"]
    assert events[0]["id"] > events[1]["id"]

    only_failed = await client.get("/admin/audit", params={"event": "login_failed"}, headers=admin)
    assert [event["event"] for event in only_failed.json()["events"]] == ["login_failed"]

    # ISO 8601 and epoch seconds both work; ``until`` is exclusive.
    later = await client.get("/admin/audit", params={"since": str(T0 + 30)}, headers=admin)
    assert [event["event"] for event in later.json()["events"]] == ["login_failed"]
    earlier = await client.get(
        "/admin/audit", params={"until": "2027-01-15T08:00:30Z"}, headers=admin
    )
    assert "login_failed" not in [event["event"] for event in earlier.json()["events"]]

    unknown = await client.get("/admin/audit", params={"user": "nobody@example.com"}, headers=admin)
    assert unknown.json() == {"events": [], "next_cursor": None}


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: httpx.AsyncClient, auth: SessionJWT
) -> None:
    admin = await admin_headers(client, auth)
    for _ in range(3):  # the free failures before the login backoff starts
        await client.post("/auth/login", json={"email": "x@example.com", "password": "wrong-pass"})
    everything = (await client.get("/admin/audit", params={"limit": 1000}, headers=admin)).json()
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/admin/audit", params=params, headers=admin)).json()
        seen += [event["id"] for event in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [event["id"] for event in everything["events"]]
    assert len(seen) >= 6  # more than two pages of three


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"event": "coffee_break"}, "unknown event type"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2027-13-45"}, "until"),
        ({"since": "2027-01-02", "until": "2027-01-01"}, "later than since"),
        ({"cursor": "abc"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
    ],
)
async def test_bad_filters_are_422(
    client: httpx.AsyncClient, auth: SessionJWT, params: dict[str, object], field: str
) -> None:
    admin = await admin_headers(client, auth)
    response = await client.get("/admin/audit", params=params, headers=admin)  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_the_trail_is_for_admins_only(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/audit")).status_code == 401
    body = await register_and_login(client)
    response = await client.get("/admin/audit", headers=bearer(body["access_token"]))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_role"


async def test_cli_prints_a_table_or_json_lines(auth: SessionJWT, settings: Settings) -> None:
    await auth.register("alice@example.com", PASSWORD)
    await auth.login("alice@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await auth.login("alice@example.com", "wrong password!")

    lines = await cli(settings, "audit", "--user", "alice@example.com", "--json")
    assert lines.returncode == 0, lines.stderr
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [row["event"] for row in rows] == ["login_failed", "login_ok", "register"]
    assert rows[0]["detail"] == {"email": "alice@example.com", "known": True}

    table = await cli(settings, "audit", "--event", "register")
    assert table.returncode == 0, table.stderr
    assert "register" in table.stdout and "login_failed" not in table.stdout

    bad = await cli(settings, "audit", "--since", "yesterday")
    assert bad.returncode == 1
    assert "invalid_audit_query" in bad.stderr
