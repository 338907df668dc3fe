"""A fake issuer per test and a resource server configured against it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from sessionjwt.resource_server import ResourceServer, ResourceServerConfig
from tests.resource_server.fake_issuer import (
    AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    CountingServer,
    FakeIssuer,
)


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer().running() as running:
        yield running


@pytest.fixture
def attacker() -> Iterator[CountingServer]:
    with CountingServer().running() as running:
        yield running


def config_for(issuer: FakeIssuer, **overrides: Any) -> ResourceServerConfig:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "jwks_url": issuer.base_url + "/.well-known/jwks.json",
        "introspection_url": issuer.base_url + "/oauth/introspect",
        "jwks_refetch_floor": 0.5,
    }
    values.update(overrides)
    return ResourceServerConfig(**values)


RSFactory = Callable[..., Any]


@pytest.fixture
async def make_rs(issuer: FakeIssuer) -> AsyncIterator[RSFactory]:
    """``await make_rs(**config overrides)``: a started resource server, closed afterwards."""
    started: list[ResourceServer] = []

    async def make(**overrides: Any) -> ResourceServer:
        rs = ResourceServer(config_for(issuer, **overrides))
        await rs.start()
        started.append(rs)
        return rs

    yield make
    for rs in started:
        await rs.close()


async def wait_until(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Poll ``condition`` (a counter another thread or task moves) until true or time-out."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
