"""Refresh rotation across instances: a replayed refresh token revokes the session everywhere.

The cluster runs with ``SESSIONJWT_REFRESH_GRACE=0``, so the previous refresh token is past
its grace window as soon as it has been rotated (the servers' clocks cannot be moved).
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
    warm_session,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_refresh_on_one_instance_then_replay_on_another_revokes_the_session_everywhere(
    cluster: Cluster,
) -> None:
    a, b, c = cluster.clients
    first = warm_session(
        cluster, "refresh", register_on=a, login_on=a, what="the first access token"
    )

    rotated = a.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    expect(rotated, 200)
    second = rotated.json()
    assert second["session_id"] == first["session_id"]
    assert second["refresh_token"] != first["refresh_token"]
    assert_live_everywhere((a, b, c), second["access_token"], "the rotated access token")

    replay = b.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    expect(replay, 401, "refresh_token_reused")

    # C first: it never saw the replay, only the announcement of the revoke.
    assert_refused_everywhere((c, a, b), second["access_token"], "session_revoked", "replayed")
    assert_refused_everywhere((c, a, b), first["access_token"], "session_revoked", "replayed")
    # The legitimate holder's current refresh token is dead too.
    again = c.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    expect(again, 401, "session_revoked")


def test_a_rotation_on_one_instance_is_used_on_the_next(cluster: Cluster) -> None:
    """The successor minted on A rotates on B, and the one from B on C: one chain."""
    a, b, c = cluster.clients
    email = unique_email("chain")
    register(c, email)
    pair = login(c, email)
    for client in (a, b, c):
        answer = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        expect(answer, 200)
        pair = answer.json()
        assert_live_everywhere((a, b, c), pair["access_token"], "after each rotation")
