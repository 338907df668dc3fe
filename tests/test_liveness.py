"""The request check's liveness rules, at the core API, with time moved by hand."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.db.engine import create_engine
from sessionjwt.db.tables import sessions
from sessionjwt.errors import (
    AccountDisabled,
    SessionExpired,
    SessionRevoked,
    StoreUnavailable,
    TokenExpired,
)
from sessionjwt.sessions.issue import TokenPair
from sessionjwt.sessions.liveness.cache import LivenessCache
from tests.conftest import PASSWORD, bearer
from tests.records import session_record, user_state


async def signed_in(auth: SessionJWT, email: str = "alice@example.com") -> TokenPair:
    if await auth.users.find_by_email(email) is None:
        await auth.register(email, PASSWORD)
    return await auth.login(email, PASSWORD)


async def keep_refreshing(
    auth: SessionJWT, clock: ManualClock, pair: TokenPair, seconds: float
) -> TokenPair:
    """Move time forward by ``seconds``, refreshing often enough never to go idle."""
    step = auth.settings.session_idle_timeout.total_seconds() / 2
    while seconds > 0:
        advance = min(step, seconds)
        clock.advance(advance)
        seconds -= advance
        pair = await auth.refresh(pair.refresh_token)
    return pair


async def test_access_token_expires_after_its_ttl_plus_leeway(
    auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    pair = await signed_in(auth)
    clock.advance(settings.access_token_ttl.total_seconds() - 1)
    await auth.check(pair.access_token)
    clock.advance(1 + settings.leeway.total_seconds())
    with pytest.raises(TokenExpired):
        await auth.check(pair.access_token)


async def test_idle_session_expires_but_a_used_one_does_not(
    auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    idle = settings.session_idle_timeout.total_seconds()
    used, unused = await signed_in(auth), await signed_in(auth)
    for _ in range(3):  # keep `used` busy across more than one idle period
        clock.advance(idle * 0.6)
        refreshed = await auth.refresh(used.refresh_token)
        used = refreshed
        await auth.check(used.access_token)
    with pytest.raises(SessionExpired):
        await auth.refresh(unused.refresh_token)


async def test_absolute_lifetime_is_never_extended_by_refresh(
    auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    lifetime = settings.session_lifetime.total_seconds()
    pair = await keep_refreshing(auth, clock, await signed_in(auth), lifetime - 60)
    assert pair.refresh_expires_in <= 60
    clock.advance(61)
    with pytest.raises(SessionExpired):
        await auth.refresh(pair.refresh_token)


async def test_access_token_never_outlives_its_session(
    auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    lifetime = settings.session_lifetime.total_seconds()
    pair = await keep_refreshing(auth, clock, await signed_in(auth), lifetime - 60)
    assert 0 < pair.expires_in <= 60
    assert pair.expires_in < settings.access_token_ttl.total_seconds()


async def test_sign_out_everywhere_kills_warm_sessions_and_keep_current_spares_one(
    auth: SessionJWT,
) -> None:
    phone, laptop, tablet = [await signed_in(auth) for _ in range(3)]
    principal = await auth.check(laptop.access_token)
    for pair in (phone, tablet):
        await auth.check(pair.access_token)

    await auth.revoke_user_sessions(principal.user_id, keep_session_id=laptop.session_id)
    assert await auth.check(laptop.access_token) == principal
    await auth.refresh(laptop.refresh_token)
    for pair in (phone, tablet):
        with pytest.raises(SessionRevoked):
            await auth.check(pair.access_token)

    await auth.revoke_user_sessions(principal.user_id)
    with pytest.raises(SessionRevoked):
        await auth.check(laptop.access_token)
    listed = await auth.list_sessions(principal.user_id)
    assert listed == []


async def test_sign_out_everywhere_is_one_write_whatever_the_session_count(
    auth: SessionJWT,
) -> None:
    pairs = [await signed_in(auth) for _ in range(25)]
    principal = await auth.check(pairs[0].access_token)
    statements: list[str] = []

    from sqlalchemy import event

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(auth.database.engine.sync_engine, "before_cursor_execute", record)
    try:
        await auth.revoke_user_sessions(principal.user_id)
    finally:
        event.remove(auth.database.engine.sync_engine, "before_cursor_execute", record)
    writes = [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "DELETE"))]
    assert len(writes) == 1, writes
    for pair in pairs:
        with pytest.raises(SessionRevoked):
            await auth.check(pair.access_token)


async def test_disable_refuses_at_once_and_enable_does_not_resurrect(auth: SessionJWT) -> None:
    pair = await signed_in(auth)
    principal = await auth.check(pair.access_token)
    await auth.set_user_disabled(principal.user_id, True)
    with pytest.raises(AccountDisabled):
        await auth.check(pair.access_token)
    await auth.set_user_disabled(principal.user_id, False)
    with pytest.raises(SessionRevoked):
        await auth.check(pair.access_token)
    await auth.check((await signed_in(auth)).access_token)


async def test_last_seen_is_kept_in_memory_and_flushed_in_one_batch(
    auth: SessionJWT, clock: ManualClock, settings: Settings
) -> None:
    pair = await signed_in(auth)
    clock.advance(settings.last_seen_resolution.total_seconds() + 5)
    await auth.check(pair.access_token)
    seen_at = clock.now()
    for _ in range(50):
        await auth.check(pair.access_token)

    async def stored_last_seen() -> float:
        async with auth.database.read() as connection:
            row = (
                await connection.execute(
                    select(sessions.c.last_seen_at).where(sessions.c.id == pair.session_id)
                )
            ).scalar_one()
        return float(row.timestamp())

    assert await stored_last_seen() < seen_at - 1  # 51 checks, no write yet
    await auth.flush_last_seen()
    assert await stored_last_seen() == pytest.approx(seen_at, abs=1e-3)


def test_a_load_that_raced_an_invalidation_is_not_cached() -> None:
    cache = LivenessCache()
    session = session_record("s", user_id="u", expires_at=100, idle_timeout=100)
    user = user_state("u")
    before_load = cache.generation
    cache.mark_revoked("s", 1.0, "logout")  # a revoke lands while the load is in flight
    assert cache.put(session, user, before_load) is None
    assert "s" not in cache.sessions


async def test_store_outage_answers_503_for_what_cannot_be_decided(
    auth: SessionJWT, client: httpx.AsyncClient
) -> None:
    warm = await signed_in(auth)
    cold = await signed_in(auth, "bob@example.com")
    assert (await client.get("/auth/me", headers=bearer(warm.access_token))).status_code == 200

    healthy_engine = auth.database.engine
    # A real engine aimed at a port where nothing listens: every connection is refused.
    auth.database.engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    try:
        # Warm: no revoke can have been made durable while the store is down, so the answer
        # in memory is still the truth.
        assert (await client.get("/auth/me", headers=bearer(warm.access_token))).status_code == 200
        cold_answer = await client.get("/auth/me", headers=bearer(cold.access_token))
        assert cold_answer.status_code == 503
        assert cold_answer.json()["error"] == "store_unavailable"
        assert cold_answer.headers["retry-after"] == "1"

        logout = await client.post("/auth/logout", headers=bearer(warm.access_token))
        assert logout.status_code == 503  # a revoke that is not durable is not reported done
        with pytest.raises(StoreUnavailable):
            await auth.login("alice@example.com", PASSWORD)
    finally:
        await auth.database.engine.dispose()
        auth.database.engine = healthy_engine

    assert (await client.get("/auth/me", headers=bearer(cold.access_token))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(warm.access_token))).status_code == 200
