"""A revoke whose announcement Redis missed is announced again as soon as Redis is back.

The revoking instance answers 503 (durable, not announced) — but the other instances may have
healthy feeds of their own and would keep accepting the session from memory until they heard
it. So the announcement must not depend on the caller retrying.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis

from sessionjwt.errors import StoreUnavailable
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.liveness.feed import Invalidation
from sessionjwt.sessions.liveness.redis_feed import RedisFeed
from tests.cluster.harness import throwaway_redis_server

pytestmark = pytest.mark.redis
CHANNEL = "sjtest:reannounce"


async def test_a_missed_announcement_is_published_once_redis_is_back(tmp_path: Path) -> None:
    with throwaway_redis_server(tmp_path) as server:
        feed = RedisFeed(server.url, LivenessCache(), channel=CHANNEL, heartbeat=0.05)
        await feed.start()
        try:
            server.kill()
            with pytest.raises(StoreUnavailable):
                await feed.announce(Invalidation("session", "stolen-session", reason="logout"))
            server.start()
            listener = redis.Redis.from_url(server.url).pubsub()
            listener.subscribe(CHANNEL)
            heard: list[str] = []
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and "s:stolen-session:logout" not in heard:
                message = await asyncio.to_thread(listener.get_message, timeout=0.1)
                if message and message["type"] == "message":
                    heard.append(message["data"].decode())
            listener.close()
        finally:
            await feed.close()
    assert "s:stolen-session:logout" in heard, heard
