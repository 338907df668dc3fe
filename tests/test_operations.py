"""Operating the service: pruning, schema checks, role changes, feed and limiter outages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Table, func, select

from sessionjwt import ClientInfo, ConfigurationError, ManualClock, SessionJWT, Settings
from sessionjwt.db.migrate import upgrade
from sessionjwt.db.tables import audit_events, sessions
from sessionjwt.errors import SessionRevoked, StoreUnavailable
from sessionjwt.sessions.liveness.redis_feed import RedisFeed
from tests import backends
from tests.conftest import PASSWORD, make_settings


async def count(auth: SessionJWT, table: Table) -> int:
    async with auth.database.read() as connection:
        result = await connection.execute(select(func.count()).select_from(table))
        return int(result.scalar_one())


async def test_prune_deletes_ended_sessions_and_old_audit_rows_in_batches(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, prune_batch_size=10)
    async with SessionJWT(settings, clock=clock) as auth:
        await auth.register("alice@example.com", PASSWORD)
        pairs = [await auth.login("alice@example.com", PASSWORD) for _ in range(25)]
        for pair in pairs[:12]:
            await auth.revoke_session(pair.session_id)
        live = pairs[-1]

        assert await auth.prune() == (0, 0)  # nothing ended long enough ago yet
        clock.advance(settings.ended_session_retention.total_seconds() + 1)
        await auth.refresh(live.refresh_token)  # keep one session in use
        deleted_sessions, _ = await auth.prune()
        assert deleted_sessions == 12
        assert await count(auth, sessions) == 13

        clock.advance(settings.audit_retention.total_seconds() + 1)
        events_before = await count(auth, audit_events)
        _, deleted_events = await auth.prune()
        assert deleted_events == events_before > 0  # every row is now past retention
        assert await count(auth, audit_events) == 0


async def test_postgres_refuses_to_start_on_a_schema_behind_the_code(postgres_url: str) -> None:
    name, url = await asyncio.to_thread(backends.create_database)
    try:
        settings = Settings(database_url=url, invalidation="host")
        auth = SessionJWT(settings)
        with pytest.raises(ConfigurationError, match="sessionjwt migrate"):
            async with auth:
                pass
        await upgrade(url)
        async with SessionJWT(settings):
            pass
    finally:
        await asyncio.to_thread(backends.drop_database, name)


def test_shared_database_without_redis_refuses_to_start_unless_single_host_is_confirmed(
    tmp_path: Path,
) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/none"
    with pytest.raises(ConfigurationError, match="SESSIONJWT_REDIS_URL"):
        SessionJWT(Settings(data_dir=tmp_path, database_url=url))
    SessionJWT(Settings(data_dir=tmp_path, database_url=url, invalidation="host"))


async def test_role_changes_reach_warm_checks(auth: SessionJWT) -> None:
    user = await auth.register("alice@example.com", PASSWORD)
    pair = await auth.login("alice@example.com", PASSWORD)
    assert (await auth.check(pair.access_token)).roles == ()
    await auth.set_user_roles(user.id, ["admin"])
    assert (await auth.check(pair.access_token)).roles == ("admin",)
    await auth.set_user_roles(user.id, [])
    assert not (await auth.check(pair.access_token)).has_roles("admin")


@pytest.mark.redis
async def test_a_broken_feed_makes_checks_read_the_store(
    tmp_path: Path, clock: ManualClock, redis_url: str
) -> None:
    """A feed that cannot vouch for memory must not let a revoke made elsewhere through."""
    settings = make_settings(tmp_path, redis_url=redis_url, redis_namespace="sjtest-broken")
    async with (
        SessionJWT(settings, clock=clock) as here,
        SessionJWT(settings, clock=clock) as there,
    ):
        await here.register("alice@example.com", PASSWORD)
        pair = await here.login("alice@example.com", PASSWORD)
        await here.check(pair.access_token)
        feed = here.feed
        assert isinstance(feed, RedisFeed) and feed.healthy

        await feed.close()  # this instance stops hearing anything
        await asyncio.sleep(settings.feed_stale_after.total_seconds() + 0.1)
        assert not feed.healthy
        await there.revoke_session(pair.session_id)  # announced, but `here` cannot hear it
        with pytest.raises(SessionRevoked):
            await here.check(pair.access_token)


async def test_rate_limiter_outage_fails_closed(tmp_path: Path, clock: ManualClock) -> None:
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:9/0", invalidation="host")
    async with SessionJWT(settings, clock=clock) as auth:
        with pytest.raises(StoreUnavailable, match="rate-limit store"):
            await auth.login("alice@example.com", PASSWORD, ClientInfo("198.51.100.1", "pytest"))
