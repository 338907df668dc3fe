"""Oversized ``Authorization`` headers (5 kB, 16 kB, 64 kB, 1 MB): answered at once with a
refusal, never parsed as JSON or verified, and the server stays healthy for everyone else.

A token over ``max_token_bytes`` is refused 401 by its size; headers over ``max_header_bytes``
are refused 431 before the guard reads them. Run over real HTTP with both of uvicorn's
parsers: httptools passes every size to the app (which refuses by size, before any parsing),
h11 refuses a 1 MB header itself with a 400.
"""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI

from sessionjwt import Settings
from tests.attacks.expect import (
    Victim,
    assert_refused,
    assert_too_large,
    assert_victim_unharmed,
)
from tests.attacks.forge import segment
from tests.attacks.live import HttpImplementation, serving
from tests.conftest import bearer

QUICKLY = 2.0  # seconds: generous for CI, far below what parsing a megabyte of JSON would take


def padded(victim: Victim, size: int) -> str:
    """The victim's real token with its payload padded to about ``size`` characters (its
    signature no longer matches, which only matters for sizes the service accepts)."""
    filler = "p" * ((size - len(victim.access_token)) * 3 // 4)
    return victim.spliced(payload=segment({**victim.claims, "pad": filler}))


@pytest.mark.parametrize("http", ["httptools", "h11"])
@pytest.mark.parametrize(
    ("size", "because"),
    [
        pytest.param(5_000, "signature is invalid", id="5kB"),
        pytest.param(16_000, "larger than this service accepts", id="16kB"),
        pytest.param(64_000, None, id="64kB"),
        pytest.param(1_000_000, None, id="1MB"),
    ],
)
async def test_oversized_authorization_header_over_http(
    app: FastAPI,
    victim: Victim,
    settings: Settings,
    http: HttpImplementation,
    size: int,
    because: str | None,
) -> None:
    token = padded(victim, size)
    assert size <= len(token) < size * 1.1
    assert (len(token) > settings.max_token_bytes) == (size > 5_000)
    assert (len(token) > settings.max_header_bytes) == (because is None)

    async with serving(app, http) as client:
        started = time.monotonic()
        if http == "h11" and size == 1_000_000:
            # h11's own header limit: a 400 and a closed connection, which may reach the
            # client before it has finished writing (then it sees the close, not the 400).
            try:
                response = await client.get("/auth/me", headers=bearer(token))
                assert response.status_code == 400, response.text
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                pass
        elif because is None:
            assert_too_large(await client.get("/auth/me", headers=bearer(token)), 431)
        else:
            assert_refused(await client.get("/auth/me", headers=bearer(token)), because=because)
        assert time.monotonic() - started < QUICKLY
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize("size", [5_000, 16_000, 64_000, 1_000_000])
async def test_oversized_header_in_process(
    client: httpx.AsyncClient, victim: Victim, settings: Settings, size: int
) -> None:
    """The same through the ASGI transport (no HTTP parser in front): the app alone decides."""
    token = padded(victim, size)
    because = "larger than" if len(token) > settings.max_token_bytes else "signature is invalid"

    started = time.monotonic()
    response = await client.get("/auth/me", headers=bearer(token))

    assert time.monotonic() - started < QUICKLY
    if len(token) > settings.max_header_bytes:
        assert_too_large(response, 431)
    else:
        assert_refused(response, because=because)
    await assert_victim_unharmed(client, victim)


async def test_many_oversized_headers_leave_the_service_answering(
    app: FastAPI, victim: Victim
) -> None:
    """Twenty 16 kB refusals in a row (past the token limit, within the header limit: the
    guard sees each) do not fill any cache into trouble or slow the next genuine request."""
    async with serving(app, "httptools") as client:
        for attempt in range(20):
            token = padded(victim, 16_000) + "A" * attempt  # twenty distinct header values
            assert_refused(
                await client.get("/auth/me", headers=bearer(token)),
                because="larger than this service accepts",
            )
        await assert_victim_unharmed(client, victim)
