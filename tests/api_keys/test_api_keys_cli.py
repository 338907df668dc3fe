"""``sessionjwt api-keys list --user EMAIL`` and ``sessionjwt api-keys revoke ID``, run as a
separate process against a running service: the revoke is refused on its next check."""

from __future__ import annotations

import httpx

from sessionjwt import SessionJWT, Settings
from tests.api_keys.helpers import make_key
from tests.conftest import bearer, register_and_login
from tests.test_cli import cli


async def test_the_cli_lists_keys_without_them_and_its_revoke_is_refused_at_once(
    client: httpx.AsyncClient, auth: SessionJWT, settings: Settings
) -> None:
    alice = await register_and_login(client)
    made = await make_key(client, alice["access_token"], name="nightly", scopes=["backup"])
    assert (await client.get("/auth/me", headers=bearer(made["key"]))).status_code == 200

    listed = await cli(settings, "api-keys", "list", "--user", "alice@example.com")
    assert listed.returncode == 0, listed.stderr
    assert made["id"] in listed.stdout and "nightly" in listed.stdout
    assert made["prefix"] in listed.stdout and "backup" in listed.stdout
    assert made["key"] not in listed.stdout and made["key"][36:68] not in listed.stdout

    revoked = await cli(settings, "api-keys", "revoke", made["id"])
    assert revoked.returncode == 0, revoked.stderr
    refused = await client.get("/auth/me", headers=bearer(made["key"]))
    assert refused.status_code == 401 and refused.json()["error"] == "session_revoked"
