"""A service closed and started again (a second ASGI lifespan, a test client entered twice)
serves requests as before, instead of failing on resources its first close released."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.errors import SessionRevoked
from tests.conftest import PASSWORD, T0, make_settings


async def test_close_then_start_again_still_checks_tokens(tmp_path: Path) -> None:
    service = SessionJWT(make_settings(tmp_path), clock=ManualClock(T0))
    await service.start()
    await service.register("alice@example.com", PASSWORD)
    pair = await service.login("alice@example.com", PASSWORD)
    await service.close()

    await service.start()
    try:
        principal = await service.check(pair.access_token)
        assert principal.session_id == pair.session_id
        await service.revoke_session(pair.session_id)
        with pytest.raises(SessionRevoked):
            await service.check(pair.access_token)
    finally:
        await service.close()
