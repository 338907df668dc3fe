"""``liveness="redis"``: introspect a session once, then answer from memory that the issuer's
invalidation channel keeps current; no memory trust while the feed is not healthy."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis

from sessionjwt.errors import SessionRevoked
from sessionjwt.principal import Principal
from sessionjwt.resource_server import ResourceServer
from sessionjwt.resource_server.liveness import FeedLiveness, SessionMemory
from sessionjwt.sessions.liveness.feed import Invalidation
from sessionjwt.sessions.liveness.redis_feed import RedisFeed
from tests.cluster.harness import ThrowawayRedis
from tests.resource_server.conftest import RSFactory, wait_until
from tests.resource_server.fake_issuer import FakeIssuer

pytestmark = pytest.mark.redis


class Channel:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self.redis = Redis.from_url(redis_url)
        self.name = f"{namespace}:invalidations"

    async def publish(self, message: str) -> None:
        await self.redis.publish(self.name, message)


def feed_of(rs: ResourceServer) -> RedisFeed:
    return cast(RedisFeed, cast(FeedLiveness, rs.liveness).feed)


async def published(rs: ResourceServer, channel: Channel, message: str) -> None:
    """Publish as the issuer would, and wait until the resource server has applied it."""
    feed = feed_of(rs)
    before = feed.messages_applied
    await channel.publish(message)
    await wait_until(lambda: feed.messages_applied > before)


@pytest.fixture
async def redis_rs(
    redis_url: str, make_rs: RSFactory
) -> AsyncIterator[tuple[ResourceServer, Channel]]:
    namespace = f"sjrs-{secrets.token_hex(6)}"
    rs = await make_rs(
        liveness="redis",
        redis_url=redis_url,
        redis_namespace=namespace,
        jwks_keys_message_floor=0.05,
    )
    assert feed_of(rs).healthy
    channel = Channel(redis_url, namespace)
    try:
        yield rs, channel
    finally:
        await channel.redis.aclose()


async def test_warm_session_needs_no_network_and_a_revoke_is_refused_at_once(
    redis_rs: tuple[ResourceServer, Channel], issuer: FakeIssuer
) -> None:
    rs, channel = redis_rs
    token = issuer.token("u-1", "s-1")
    await rs.check(token)
    assert issuer.introspect_requests == 1
    for _ in range(5):
        await rs.check(token)
    await rs.check(issuer.token("u-1", "s-1"))  # a refreshed token for the same session
    assert issuer.introspect_requests == 1, "warm checks are answered from memory"

    issuer.revoked.add("s-1")
    await published(rs, channel, Invalidation("session", "s-1", reason="logout").encode())
    with pytest.raises(SessionRevoked):
        await rs.check(token)
    assert issuer.introspect_requests == 1, "refused from memory, with no introspection call"


async def test_user_message_makes_that_user_ask_again(
    redis_rs: tuple[ResourceServer, Channel], issuer: FakeIssuer
) -> None:
    rs, channel = redis_rs
    alice, bob = issuer.token("alice", "sa"), issuer.token("bob", "sb")
    await rs.check(alice)
    await rs.check(bob)
    issuer.revoked.add("sa")  # alice signed out everywhere
    await published(rs, channel, Invalidation("user", "alice", generation=7).encode())
    with pytest.raises(SessionRevoked):
        await rs.check(alice)
    await rs.check(bob)
    assert issuer.introspect_requests == 3  # alice twice, bob once


@pytest.mark.parametrize("message", ["g:1800000000", "z:something-newer", "garbage"])
async def test_emergency_and_unknown_messages_drop_all_memory(
    message: str, redis_rs: tuple[ResourceServer, Channel], issuer: FakeIssuer
) -> None:
    rs, channel = redis_rs
    token = issuer.token()
    await rs.check(token)
    memory = cast(FeedLiveness, rs.liveness).memory
    generation = memory.generation
    await channel.publish(message)
    await wait_until(lambda: memory.generation > generation)
    assert len(memory) == 0
    await rs.check(token)
    assert issuer.introspect_requests == 2


async def test_keys_message_refetches_the_jwks(
    redis_rs: tuple[ResourceServer, Channel], issuer: FakeIssuer
) -> None:
    rs, channel = redis_rs
    fetched = issuer.jwks_requests
    issuer.rotate()
    await published(rs, channel, "k:")
    await wait_until(lambda: issuer.ring.active.kid in rs.jwks.keys.kids)
    assert issuer.jwks_requests > fetched


async def test_broken_feed_means_introspection_on_every_request(
    make_rs: RSFactory, issuer: FakeIssuer, tmp_path: Path
) -> None:
    """Redis dies under a warm resource server: memory is no longer trusted, every request
    asks the issuer (and so a revoke made meanwhile is refused at once)."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not on PATH")
    server = ThrowawayRedis(executable, tmp_path / "redis.log")
    server.start()
    try:
        rs = await make_rs(
            liveness="redis",
            redis_url=server.url,
            redis_namespace="sjrs-outage",
            feed_heartbeat=0.05,
            feed_stale_after=0.3,
        )
        token = issuer.token()
        await rs.check(token)
        await rs.check(token)
        assert issuer.introspect_requests == 1
        server.kill()
        await wait_until(lambda: not feed_of(rs).healthy)
        for expected_calls in (2, 3, 4):
            await rs.check(token)
            assert issuer.introspect_requests == expected_calls
        issuer.revoked.add("sid-1")  # no message can arrive: the issuer is asked anyway
        with pytest.raises(SessionRevoked):
            await rs.check(token)
    finally:
        server.stop()


def test_an_answer_that_raced_a_message_is_not_remembered() -> None:
    """The load race: an introspection began, a message arrived, the answer came back."""
    memory = SessionMemory(lambda: None)
    generation = memory.generation
    memory.apply(Invalidation("session", "s-1", reason="logout"), 0.0)
    memory.put("s-1", "u-1", Principal("u-1", "", (), "s-1"), generation)
    assert len(memory) == 0
    memory.put("s-1", "u-1", Principal("u-1", "", (), "s-1"), memory.generation)
    assert len(memory) == 1
