"""A personal API key deleted on one instance is refused by every instance on the very next
request: a key is a session, so its deletion travels the same feed as a revoke.

Three real server processes share PostgreSQL and Redis; the key is first used on every
instance, so each holds it warm in memory and the refusal can only come from the feed.
"""

from __future__ import annotations

import pytest

from tests.cluster.harness import (
    Cluster,
    assert_live_everywhere,
    assert_refused_everywhere,
    expect,
    login,
    register,
    unique_email,
)
from tests.conftest import bearer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_key_deleted_on_one_instance_is_refused_by_every_instance(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    email = unique_email("api-key")
    register(a, email)
    session = login(a, email)
    made = a.post(
        "/auth/api-keys",
        json={"name": "cluster bot", "scopes": ["orders:read"]},
        headers=bearer(session["access_token"]),
    )
    expect(made, 201)
    key = made.json()["key"]
    assert_live_everywhere((a, b, c), key, "before the delete")

    expect(
        b.delete(f"/auth/api-keys/{made.json()['id']}", headers=bearer(session["access_token"])),
        204,
    )

    assert_refused_everywhere((a, b, c), key, "session_revoked", "after the delete on B")
    assert_live_everywhere((a, b, c), session["access_token"], "the session that deleted it")
