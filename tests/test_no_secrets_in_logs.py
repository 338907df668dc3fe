"""No token, password, client secret, API key or key material in any log line or audit row.

A realistic life of the service runs over HTTP with every logger at DEBUG; every secret it
handled goes into a :class:`~tests.leaks.SecretBag`; then every log line, every audit row
(read straight from the table) and the CLI's audit output are searched for all of them.
To cover a new flow, run it inside ``every_log_line()`` and add what it revealed to the bag.
"""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from sqlalchemy import select

from sessionjwt import SessionJWT, Settings
from sessionjwt.db.tables import audit_events
from sessionjwt.tokens.api_key import hash_key_secret
from tests.conftest import PASSWORD, bearer, register_and_login
from tests.leaks import SecretBag, every_log_line
from tests.oauth import basic
from tests.ops import ADMIN_EMAIL, admin_headers
from tests.test_cli import cli

WRONG_PASSWORD = "tr0ub4dor&3-but-wrong"


def remember_tokens(bag: SecretBag, body: dict[str, str], label: str) -> None:
    bag.add(f"{label} access token", body["access_token"])
    bag.add(f"{label} access token signature", body["access_token"].rsplit(".", 1)[1])
    bag.add(f"{label} refresh token", body["refresh_token"])
    bag.add(f"{label} refresh secret", body["refresh_token"].split(".", 1)[1])


def remember_keys(bag: SecretBag, auth: SessionJWT) -> None:
    """The signing keys now in the ring, the master key(s), the refresh chain key."""
    for key in auth.key_ring():
        bag.add_private_key(f"signing key {key.kid}", key.signing_key)
    assert auth.master_keys is not None
    for index, master in enumerate((auth.master_keys.current, *auth.master_keys.previous)):
        bag.add_bytes(f"master key {index}", master)
    file = auth.settings.resolved_master_key_file
    if file.exists():
        bag.add("master key file", file.read_text().strip())
    assert auth.components.chain is not None
    bag.add_bytes("refresh chain key", auth.components.chain._key)


async def personal_api_key_life(
    client: httpx.AsyncClient, bag: SecretBag, stored: SecretBag
) -> None:
    """A key made, used, mistyped, listed, deleted and presented again (audited as refused)."""
    dave = await register_and_login(client, "dave@example.com")
    remember_tokens(bag, dave, "dave")
    made = await client.post(
        "/auth/api-keys",
        json={"name": "deploy bot", "scopes": ["deploy"]},
        headers=bearer(dave["access_token"]),
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    bag.add("API key", key)
    bag.add("API key secret", key[36:68])
    # The hash is what the database holds (like a refresh or password hash): the SQLite
    # driver's own DEBUG dump of the INSERT's parameters shows it, every other sink must not.
    stored.add("API key hash", hash_key_secret(key[36:68]))
    assert (await client.get("/auth/me", headers=bearer(key))).is_success
    typo = key[:40] + ("x" if key[40] != "x" else "y") + key[41:]
    assert (await client.get("/auth/me", headers=bearer(typo))).status_code == 401
    listed = await client.get("/auth/api-keys", headers=bearer(dave["access_token"]))
    assert listed.is_success
    deleted = await client.delete(
        f"/auth/api-keys/{made.json()['id']}", headers=bearer(dave["access_token"])
    )
    assert deleted.status_code == 204
    assert (await client.get("/auth/me", headers=bearer(key))).status_code == 401


async def run_the_life(
    client: httpx.AsyncClient,
    auth: SessionJWT,
    settings: Settings,
    bag: SecretBag,
    stored: SecretBag,
) -> str:
    """Everything a deployment sees in a day, and a bad one; the CLI's audit output."""
    bag.add("password", PASSWORD)
    bag.add("wrong password", WRONG_PASSWORD)
    remember_keys(bag, auth)

    admin = await admin_headers(client, auth)
    bag.add("admin access token", admin["Authorization"].removeprefix("Bearer "))

    alice = await register_and_login(client, "alice@example.com")
    remember_tokens(bag, alice, "login")
    assert (await client.get("/auth/me", headers=bearer(alice["access_token"]))).is_success

    failed = await client.post(
        "/auth/login", json={"email": "alice@example.com", "password": WRONG_PASSWORD}
    )
    assert failed.status_code == 401
    # A password typed into the email field must not be logged either.
    typo = await client.post("/auth/login", json={"email": PASSWORD, "password": PASSWORD})
    assert typo.status_code == 401

    refreshed = await client.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert refreshed.is_success, refreshed.text
    remember_tokens(bag, refreshed.json(), "refreshed")
    auth.clock.advance(settings.refresh_grace.total_seconds() + 1)  # type: ignore[attr-defined]
    replay = await client.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert replay.json()["error"] == "refresh_token_reused"
    dead = await client.get("/auth/me", headers=bearer(refreshed.json()["access_token"]))
    assert dead.status_code == 401

    bob = await register_and_login(client, "bob@example.com")
    remember_tokens(bag, bob, "bob")
    assert (await client.post("/auth/logout", headers=bearer(bob["access_token"]))).is_success
    bob = await register_and_login(client, "bob@example.com", register=False)
    remember_tokens(bag, bob, "bob again")
    everywhere = await client.post("/auth/logout-all", headers=bearer(bob["access_token"]))
    assert everywhere.status_code == 204

    created = await auth.create_client("billing-api", actor="test")
    bag.add("client secret", created.secret)
    carol = await register_and_login(client, "carol@example.com")
    remember_tokens(bag, carol, "carol")
    credentials = basic(created.record.client_id, created.secret)
    for token in (carol["access_token"], carol["refresh_token"], "garbage.token.here"):
        answer = await client.post("/oauth/introspect", data={"token": token}, headers=credentials)
        assert answer.status_code == 200, answer.text
    wrong = basic(created.record.client_id, created.secret[::-1])
    assert (
        await client.post("/oauth/introspect", data={"token": "x" * 20}, headers=wrong)
    ).status_code == 401
    revoked = await client.post("/oauth/revoke", data={"token": carol["refresh_token"]})
    assert revoked.status_code == 200

    await personal_api_key_life(client, bag, stored)

    worker = await auth.create_client(
        "export-worker", actor="test", client_credentials=True, scopes=["orders:read"]
    )
    bag.add("service client secret", worker.secret)
    grant = {"grant_type": "client_credentials", "scope": "orders:read"}
    issued = await client.post(
        "/oauth/token", data=grant, headers=basic(worker.record.client_id, worker.secret)
    )
    assert issued.status_code == 200, issued.text
    bag.add("client-credentials token", issued.json()["access_token"])
    refused = await client.post(
        "/oauth/token", data=grant, headers=basic(worker.record.client_id, worker.secret[::-1])
    )
    assert refused.status_code == 401
    await auth.delete_client(worker.record.client_id, actor="test")

    rotate = await client.post("/admin/keys/rotate", json={"force": True}, headers=admin)
    assert rotate.is_success, rotate.text
    remember_keys(bag, auth)
    emergency = await client.post("/admin/keys/rotate", json={"revoke_all": True}, headers=admin)
    assert emergency.is_success, emergency.text
    remember_keys(bag, auth)

    after = await register_and_login(client, ADMIN_EMAIL, register=False)
    remember_tokens(bag, after, "after the emergency")
    audit = await client.get(
        "/admin/audit", params={"limit": 1000}, headers=bearer(after["access_token"])
    )
    assert audit.is_success

    listed = await cli(settings, "audit", "--json", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr
    return audit.text + "\n" + listed.stdout + listed.stderr


async def test_no_secret_reaches_a_log_line_or_an_audit_row(
    client: httpx.AsyncClient, auth: SessionJWT, settings: Settings
) -> None:
    bag, stored = SecretBag(), SecretBag()
    with every_log_line() as lines:
        audit_output = await run_the_life(client, auth, settings, bag, stored)
    async with auth.database.read() as connection:
        rows = [dict(row._mapping) for row in await connection.execute(select(audit_events))]

    events = {row["event"] for row in rows}
    assert {
        "register",
        "login_ok",
        "login_failed",
        "refresh",
        "refresh_reuse_detected",
        "logout",
        "sign_out_everywhere",
        "client_created",
        "key_rotated",
        "emergency_key_rotation",
        "api_key_created",
        "api_key_deleted",
        "api_key_refused",
        "client_token_issued",
        "client_deleted",
    } <= events
    audit_lines = [line for line in lines if line.startswith("sessionjwt.audit ")]
    assert len(audit_lines) >= len(rows)  # every event was also a JSON log line
    assert all(json.loads(line.split(" ", 2)[2]) for line in audit_lines)

    sinks = {
        "log lines": "\n".join(lines),
        "audit rows": "\n".join(json.dumps(row, default=str) for row in rows),
        "audit API and CLI output": audit_output,
    }
    assert len(bag) > 50
    assert bag.leaks(sinks) == []
    ours = [line for line in lines if not line.startswith("aiosqlite ")]
    assert len(stored) > 0
    assert stored.leaks({**sinks, "log lines": "\n".join(ours)}) == []


def test_the_scan_finds_a_planted_secret(caplog: pytest.LogCaptureFixture) -> None:
    """The bag is only as good as its search: a leaked token in any encoding is found."""
    bag = SecretBag()
    bag.add("access token", "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl")
    bag.add_bytes("master key", bytes(range(32)))
    with every_log_line() as lines:
        logging.getLogger("sessionjwt.test").debug("oops %s", bytes(range(32)).hex())
    assert bag.leaks({"log lines": "\n".join(lines)}) == ["master key (hex) in log lines"]
    assert bag.leaks({"x": "Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"}) == ["access token in x"]
