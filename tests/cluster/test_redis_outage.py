"""Redis fails under a running cluster: request checks fall back to PostgreSQL, never to 5xx.

The test owns its Redis (``throwaway_redis``: a ``redis-server`` on a free port), kills it
with SIGKILL and restarts it on the same port; the machine's Redis is never touched. The
instances run with ``SESSIONJWT_FEED_STALE_AFTER=1`` and the default 0.2 s heartbeat.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pytest

from tests.cluster.harness import (
    FEED_STALE_AFTER_S,
    INSTANCES,
    Cluster,
    ThrowawayRedis,
    assert_live_everywhere,
    assert_refused_everywhere,
    error_code,
    expect,
    login,
    me,
    register,
    subscribers,
    unique_email,
)
from tests.conftest import PASSWORD, bearer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MARGIN_S = 0.5  # scheduling slack on a small, busy machine, on top of the staleness bound
RECOVERY_DEADLINE_S = 15.0


@dataclass(frozen=True, slots=True)
class Answer:
    instance: str
    token: str  # which session: "live" or "doomed"
    started: float
    received: float
    status: int
    error: str | None


def ask(name: str, client: httpx.Client, label: str, token: str) -> Answer:
    started = time.monotonic()
    response = me(client, token)
    return Answer(
        name, label, started, time.monotonic(), response.status_code, error_code(response)
    )


def time_until_subscribed(
    redis_server: ThrowawayRedis, cluster: Cluster, limit: float
) -> float | None:
    """Seconds until every instance listens on the channel again, or None after ``limit``."""
    started = time.monotonic()
    while subscribers(redis_server, cluster) != INSTANCES:
        if time.monotonic() - started > limit:
            return None
        time.sleep(0.02)
    return time.monotonic() - started


def login_when_possible(client: httpx.Client, email: str, deadline: float) -> httpx.Response:
    """Logins need the shared rate-limit counters: 503 until Redis answers again."""
    while True:
        response = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        expect(response, 503, "store_unavailable")
        time.sleep(0.05)


def summarize_refusal(
    answers: Sequence[Answer], name: str, since: float, bound: float
) -> tuple[float, int]:
    """Check one instance's answers for the revoked session; (first refusal delay, 200s after
    ``since``). A 200 after the first refusal, or for a request sent after ``since + bound``,
    fails. Judged on send times, so a test process starved for a moment cannot fail it: the
    first request sent after the bound must be refused, whenever its answer comes."""
    mine = [x for x in answers if x.instance == name and x.token == "doomed"]
    refused = [x for x in mine if (x.status, x.error) == (401, "session_revoked")]
    assert refused, f"{name} never refused the revoked session: {mine[-3:]}"
    first = refused[0]
    odd = [x for x in mine if (x.status, x.error) not in ((200, None), (401, "session_revoked"))]
    assert not odd, f"{name}: unexpected answers {odd[:3]}"
    accepted_late = [x for x in mine if x.status == 200 and x.started > first.started]
    assert not accepted_late, f"{name} accepted the revoked session again: {accepted_late[:3]}"
    past_bound = [x for x in mine if x.status == 200 and x.started > since + bound]
    assert not past_bound, (
        f"{name} accepted the revoked session more than {bound:g} s after the revoke "
        f"returned: {[round(x.started - since, 3) for x in past_bound[:5]]}"
    )
    delay = first.received - since
    return delay, sum(1 for x in mine if x.status == 200 and x.started > since)


def test_redis_killed_and_restarted_under_a_running_cluster(
    outage_cluster: Cluster, throwaway_redis: ThrowawayRedis
) -> None:
    cluster = outage_cluster
    names = [instance.name for instance in cluster.instances]
    a, b, c = cluster.clients
    email = unique_email("outage")
    register(a, email)
    live = login(a, email, device="live")
    doomed = login(b, email, device="doomed")
    tokens = {"live": live["access_token"], "doomed": doomed["access_token"]}
    for token in tokens.values():
        assert_live_everywhere((a, b, c), token, "warm-up")

    throwaway_redis.kill()
    killed_at = time.monotonic()

    # (b) A revoke while Redis is down: durable in PostgreSQL, but it cannot be announced.
    logout_started = time.monotonic()
    logout = a.post("/auth/logout", headers=bearer(tokens["doomed"]))
    logout_returned = time.monotonic()
    expect(logout, 503, "store_unavailable")
    assert logout.headers.get("retry-after") == "1"

    # (a)+(b) Poll every instance with both sessions until well past the staleness bound.
    bound = FEED_STALE_AFTER_S + MARGIN_S
    poll_until = max(killed_at + FEED_STALE_AFTER_S + 1.0, logout_returned + bound + 0.3)
    answers: list[Answer] = []
    while time.monotonic() < poll_until:
        for name, client in zip(names, (a, b, c), strict=True):
            for label, token in tokens.items():
                answers.append(ask(name, client, label, token))
    failed = [x for x in answers if x.status >= 500]
    assert not failed, f"request checks answered 5xx while Redis was down: {failed[:5]}"
    live_refused = [x for x in answers if x.token == "live" and x.status != 200]
    assert not live_refused, f"the live session was refused while Redis was down: {live_refused}"
    on_a = [x for x in answers if x.instance == "A" and x.token == "doomed"]
    assert all((x.status, x.error) == (401, "session_revoked") for x in on_a), on_a[:3]
    delays = {name: summarize_refusal(answers, name, logout_returned, bound) for name in "BC"}

    # Logins and refreshes need the shared rate-limit counters: 503, never a silent fallback.
    refused_login = c.post("/auth/login", json={"email": email, "password": PASSWORD})
    expect(refused_login, 503, "store_unavailable")
    refused_refresh = b.post("/auth/refresh", json={"refresh_token": live["refresh_token"]})
    expect(refused_refresh, 503, "store_unavailable")
    outage_checked = time.monotonic()

    # Redis comes back on the same port: logins and announcements recover.
    throwaway_redis.start()
    restarted_at = time.monotonic()
    # A figure, not an assertion: each instance's feed should subscribe again within about a
    # second, but now and then one never does (its listener task died while Redis went
    # away: the bug test_feed_resubscribe.py pins down). It then reads PostgreSQL on every
    # check, so everything below still holds; it is reported, not failed, here.
    resubscribed_s = time_until_subscribed(throwaway_redis, cluster, limit=3.0)
    fresh_login = login_when_possible(a, email, restarted_at + RECOVERY_DEADLINE_S)
    expect(fresh_login, 200)
    login_back_s = time.monotonic() - restarted_at
    fresh = fresh_login.json()
    assert_live_everywhere((a, b, c), fresh["access_token"], "a login after the restart")
    assert_live_everywhere((a, b, c), tokens["live"], "the live session after the restart")

    expect(a.post("/auth/logout", headers=bearer(fresh["access_token"])), 204)
    assert_refused_everywhere((b, c, a), fresh["access_token"], "session_revoked", "restored")
    assert_refused_everywhere((b, c, a), tokens["doomed"], "session_revoked", "after restart")
    assert_live_everywhere((a, b, c), tokens["live"], "the live session at the end")

    print(
        f"\nredis outage: logout on A answered 503 after {logout_returned - logout_started:.3f} s "
        f"(Redis killed {logout_started - killed_at:.3f} s before it); first refusal of the "
        f"revoked session after the 503 returned: "
        + ", ".join(
            f"{name} {delay * 1000:.1f} ms (= kill + "
            f"{(delay + logout_returned - killed_at) * 1000:.1f} ms; {late} 200s before it)"
            for name, (delay, late) in delays.items()
        )
        + f"; {len(answers)} checks while down, 0 5xx; outage probes done "
        f"{outage_checked - killed_at:.2f} s after the kill; after the restart: "
        + (
            f"{INSTANCES} subscribers back in {resubscribed_s:.2f} s"
            if resubscribed_s is not None
            else f"only {subscribers(throwaway_redis, cluster)}/{INSTANCES} subscribers back"
        )
        + f", login 200 after {login_back_s:.2f} s"
    )
