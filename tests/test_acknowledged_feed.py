"""A revoke announced over Redis returns only when every other member has applied it, or
when a silent member's lease has run out (see ``liveness/acknowledgement.py``).

The members here are real :class:`RedisFeed` objects on the machine's Redis, each under a
channel of its own; they share one event loop, so a member's listener can only have applied
a message before ``announce`` returns if ``announce`` really waited for it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.server.app import create_app
from sessionjwt.sessions.liveness.acknowledgement import CLOCK_MARGIN_S, Announcement, Outcome
from sessionjwt.sessions.liveness.feed import Invalidation
from sessionjwt.sessions.liveness.redis_feed import RedisFeed
from tests.conftest import PASSWORD, make_settings
from tests.ops import scrape, value


class Recorder:
    """A feed target that remembers what it was told, in order."""

    def __init__(self) -> None:
        self.applied: list[Invalidation] = []
        self.clears = 0

    def apply(self, change: Invalidation, now: float) -> None:
        self.applied.append(change)

    def clear(self) -> None:
        self.clears += 1


@asynccontextmanager
async def members(
    url: str, count: int, lease: float = 0.1
) -> AsyncIterator[tuple[str, list[tuple[RedisFeed, Recorder]]]]:
    channel = f"sjtest-ack-{secrets.token_hex(4)}:invalidations"
    started: list[tuple[RedisFeed, Recorder]] = []
    try:
        for _ in range(count):
            target = Recorder()
            feed = RedisFeed(url, target, channel=channel, heartbeat=0.02, stale_after=lease)
            await feed.start()
            started.append((feed, target))
        yield channel, started
    finally:
        for feed, _ in started:
            await feed.close()


# -- the decision itself, without Redis ---------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_announcement_waits_for_every_listed_member_then_stops() -> None:
    clock = FakeMonotonic()
    announcement = Announcement(clock)
    announcement.acknowledged("early")  # acks can arrive before the publish's reply
    announcement.published([("early", 0.1), ("b", 0.1), ("c", 0.3)])
    assert announcement.waiting_for == {"b", "c"}
    assert announcement.outcome(clock.now) is None
    announcement.acknowledged("b")
    announcement.left("c")  # a member that leaves has stopped trusting memory first
    assert announcement.outcome(clock.now) is Outcome.ACKNOWLEDGED


def test_a_silent_member_is_waited_for_until_its_own_lease_runs_out() -> None:
    clock = FakeMonotonic()
    announcement = Announcement(clock)
    announcement.published([("short", 0.05), ("long", 0.3)])
    announcement.acknowledged("short")
    clock.now += 0.3  # exactly the lease: the margin is not over yet
    assert announcement.outcome(clock.now) is None
    clock.now += CLOCK_MARGIN_S
    assert announcement.outcome(clock.now) is Outcome.LEASE_EXPIRED


def test_an_announcement_that_was_never_published_never_settles() -> None:
    announcement = Announcement(FakeMonotonic())
    announcement.acknowledged("b")
    assert announcement.outcome(1e12) is None


# -- real members on Redis -------------------------------------------------------------------


@pytest.mark.redis
async def test_every_member_has_applied_a_revoke_when_announce_returns(redis_url: str) -> None:
    async with members(redis_url, 3) as (_, started):
        (revoker, _), *others = started
        for n in range(200):
            change = Invalidation("session", f"s-{n}", reason="logout")
            await revoker.announce(change)
            for feed, target in others:
                assert target.applied[-1:] == [change], f"{feed.member} not yet at revoke {n}"
        assert revoker.waits[Outcome.ACKNOWLEDGED].count == 200
        assert revoker.waits[Outcome.LEASE_EXPIRED].count == 0


@pytest.mark.redis
async def test_a_member_that_never_acknowledges_is_waited_out_for_its_lease(
    redis_url: str,
) -> None:
    """A process that renewed its lease but then went silent (frozen, or its subscription
    cut) may still answer from memory until that lease is over: the revoke waits that long."""
    async with members(redis_url, 2) as (channel, started):
        (revoker, _), (_, listener) = started
        ghost_lease_ms = 150
        async with aioredis.Redis.from_url(redis_url) as admin:
            now_s, now_us = await admin.time()
            expires_ms = now_s * 1000 + now_us // 1000 + 10_000
            await admin.zadd(f"{channel}:members", {f"ghost-1|{ghost_lease_ms}": expires_ms})
        began = time.monotonic()
        await revoker.announce(Invalidation("session", "s-ghost", reason="logout"))
        waited = time.monotonic() - began
        assert waited >= ghost_lease_ms / 1000, f"returned after {waited * 1000:.1f} ms"
        assert revoker.waits[Outcome.LEASE_EXPIRED].count == 1
        assert listener.applied[-1].id == "s-ghost"  # the live member was still told


@pytest.mark.redis
async def test_a_member_that_left_is_not_waited_for(redis_url: str) -> None:
    async with members(redis_url, 2, lease=0.5) as (channel, started):
        (revoker, _), (leaver, _) = started
        async with aioredis.Redis.from_url(redis_url, decode_responses=True) as admin:
            registered = await admin.zrange(f"{channel}:members", 0, -1)
            assert set(registered) == {
                f"{revoker.member}|500",
                f"{leaver.member}|500",
            }
            await leaver.close()
            registered = await admin.zrange(f"{channel}:members", 0, -1)
            assert registered == [f"{revoker.member}|500"]
        began = time.monotonic()
        await revoker.announce(Invalidation("session", "s-left", reason="logout"))
        assert time.monotonic() - began < 0.5, "waited out the lease of a member that left"
        assert revoker.waits[Outcome.ACKNOWLEDGED].count == 1
        assert not leaver.trusting


@pytest.mark.redis
async def test_a_member_trusts_memory_only_within_its_lease_of_a_heartbeat(
    redis_url: str,
) -> None:
    async with members(redis_url, 1, lease=0.1) as (_, started):
        ((feed, _),) = started
        assert feed.changed()  # the first call reports the subscription: memory was dropped
        assert feed.trusting and not feed.changed()
        await feed.close()  # no more heartbeats: trust ends at once, not after the lease
        assert feed.changed() and not feed.trusting and not feed.healthy


@pytest.mark.redis
async def test_the_wait_for_acknowledgements_is_in_the_metrics(
    tmp_path: Path, clock: ManualClock, redis_url: str
) -> None:
    namespace = f"sjtest-ackmetrics-{secrets.token_hex(4)}"
    # The longest lease (1 s), so a busy CI host stalling this loop for more than the
    # default 100 ms cannot make the trusting gauge read 0 at the scrape.
    settings = make_settings(
        tmp_path, redis_url=redis_url, redis_namespace=namespace, feed_stale_after=1.0
    )
    here = SessionJWT(settings, clock=clock)
    app = create_app(auth=here)  # built before the feed starts: it takes longer than a lease
    async with here, SessionJWT(settings, clock=clock):
        await here.register("alice@example.com", PASSWORD)
        pair = await here.login("alice@example.com", PASSWORD)
        await here.revoke_session(pair.session_id)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await http.get("/healthz")  # the first request sets up lazily, for longer than a lease
            await asyncio.sleep(0.1)  # a few heartbeats: the lease is renewed and held
            metrics = await scrape(http)
    name = "sessionjwt_feed_announce_wait_seconds"
    assert value(metrics, f"{name}_count", outcome="acknowledged") == 1
    assert value(metrics, f"{name}_count", outcome="lease_expired") == 0
    assert 0 < value(metrics, f"{name}_sum", outcome="acknowledged") < 0.1
    assert value(metrics, "sessionjwt_feed_trusting") == 1


@pytest.mark.redis
async def test_a_stalled_event_loop_reads_the_store_until_its_lease_is_renewed(
    tmp_path: Path, clock: ManualClock, redis_url: str
) -> None:
    """Past its lease a process cannot vouch for memory (a revoke may be waiting unread in
    its socket), so the check asks the store; memory itself is kept, since the subscription
    stayed up and delivers in order, and serves again once a heartbeat is heard back."""
    namespace = f"sjtest-stall-{secrets.token_hex(4)}"
    settings = make_settings(tmp_path, redis_url=redis_url, redis_namespace=namespace)
    async with SessionJWT(settings, clock=clock) as here:
        await here.register("alice@example.com", PASSWORD)
        pair = await here.login("alice@example.com", PASSWORD)
        await here.check(pair.access_token)
        misses = here.checker.stats.misses
        await here.check(pair.access_token)
        assert here.checker.stats.misses == misses  # warm: from memory

        time.sleep(settings.feed_stale_after.total_seconds() * 1.5)  # noqa: ASYNC251 - the stall
        await here.check(pair.access_token)
        assert here.checker.stats.misses == misses + 1, "a lapsed lease answered from memory"
        assert len(here.cache) == 1, "a lapse dropped memory that was still current"

        await asyncio.sleep(settings.feed_stale_after.total_seconds())  # heartbeats heard again
        await here.check(pair.access_token)
        assert here.checker.stats.misses == misses + 1
