"""A revoke on one instance is refused by every instance on the very next request.

Three real server processes share PostgreSQL and Redis. Each session is first used on every
instance, so each holds it warm in memory: the refusal can only come from the invalidation
feed, not from a cold read of the database.
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
from tests.conftest import bearer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_logout_on_one_instance_is_refused_by_the_others_next_request(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    session = warm_session(cluster, "logout", register_on=a, login_on=a, what="before the logout")
    token = session["access_token"]

    expect(c.post("/auth/logout", headers=bearer(token)), 204)

    assert_refused_everywhere((a, b, c), token, "session_revoked", "after the logout on C")
    refreshed = b.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    expect(refreshed, 401, "session_revoked")


def test_deleting_a_session_on_one_instance_is_refused_by_the_others(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    email = unique_email("delete")
    register(b, email)
    phone = login(a, email, device="phone")
    laptop = login(b, email, device="laptop")
    for session in (phone, laptop):
        assert_live_everywhere((a, b, c), session["access_token"], "before the delete")

    deleted = c.delete(
        f"/auth/sessions/{phone['session_id']}", headers=bearer(laptop["access_token"])
    )
    expect(deleted, 204)

    assert_refused_everywhere((a, b, c), phone["access_token"], "session_revoked", "deleted")
    assert_live_everywhere((a, b, c), laptop["access_token"], "the deleting session")


def test_sign_out_everywhere_on_one_instance_reaches_every_instance(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    email = unique_email("everywhere")
    register(a, email)
    phone = login(a, email, device="phone")
    laptop = login(c, email, device="laptop")
    for session in (phone, laptop):
        assert_live_everywhere((a, b, c), session["access_token"], "before sign-out-everywhere")

    expect(b.post("/auth/logout-all", headers=bearer(phone["access_token"])), 204)

    for name, session in (("phone", phone), ("laptop", laptop)):
        assert_refused_everywhere((a, b, c), session["access_token"], "session_revoked", name)
    # A new login after it is unaffected.
    fresh = login(b, email, device="tablet")
    assert_live_everywhere((a, b, c), fresh["access_token"], "a login after the sign-out")


def test_sign_out_everywhere_keep_current_keeps_the_callers_session_on_every_instance(
    cluster: Cluster,
) -> None:
    a, b, c = cluster.clients
    email = unique_email("keep")
    register(a, email)
    phone = login(a, email, device="phone")
    laptop = login(c, email, device="laptop")
    caller = login(b, email, device="desktop")
    for session in (phone, laptop, caller):
        assert_live_everywhere((a, b, c), session["access_token"], "before sign-out-everywhere")

    answer = b.post(
        "/auth/logout-all",
        params={"keep_current": "true"},
        headers=bearer(caller["access_token"]),
    )
    expect(answer, 204)

    for name, session in (("phone", phone), ("laptop", laptop)):
        assert_refused_everywhere((a, b, c), session["access_token"], "session_revoked", name)
    assert_live_everywhere((a, b, c), caller["access_token"], "the kept session")
    listed = c.get("/auth/sessions", headers=bearer(caller["access_token"]))
    expect(listed, 200)
    assert [(s["id"], s["current"]) for s in listed.json()] == [(caller["session_id"], True)]
