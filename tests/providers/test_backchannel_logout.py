"""OpenID Connect Back-Channel Logout: the provider ends the sessions it started, at once.

The OP (``local_op``) delivers its own signed logout token over real HTTP, so the receiving
instance runs under uvicorn on a free port. With PostgreSQL and Redis the session was made on
another instance, which must refuse it on the very next request.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.server.app import create_app
from tests.conftest import T0, bearer, make_settings
from tests.providers.op import RP_CLIENT_ID, LocalOP, backchannel_logout
from tests.providers.test_sign_in import CALLBACK, browser_for, provider, signed_in

LOGOUT_PATH = "/auth/providers/op/backchannel-logout"


class Recorder:
    """ASGI middleware keeping the bodies POSTed to the logout endpoint (to replay them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != LOGOUT_PATH:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                self.bodies.append(b"".join(chunks))
            return message

        await self.app(scope, recording, send)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=5,  # a connection the OP abandoned must not hold the test
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def instances(
    backend: dict[str, object], tmp_path: Path, fresh_op: LocalOP
) -> AsyncIterator[tuple[SessionJWT, SessionJWT]]:
    """(receiver, where the user signed in): one instance on SQLite, two on PostgreSQL+Redis
    (``backend``, from tests/conftest.py, runs the test once per deployment shape)."""
    shared: dict[str, Any] = dict(backend)

    def make() -> SessionJWT:
        # One data_dir: the instances of a deployment share the master key.
        settings = make_settings(tmp_path, providers=[provider(fresh_op)], **shared)
        return SessionJWT(settings, clock=ManualClock(T0))

    receiver = make()
    await receiver.start()
    other = receiver
    if shared:
        other = make()
        await other.start()
    try:
        yield receiver, other
    finally:
        if other is not receiver:
            await other.close()
        await receiver.close()


Step = Callable[[], Awaitable[Any]]


async def test_a_logout_token_ends_the_session_on_the_next_request_everywhere(
    instances: tuple[SessionJWT, SessionJWT], fresh_op: LocalOP
) -> None:
    receiver, other = instances
    recorder = Recorder(create_app(auth=receiver))
    async with served(recorder) as base:
        await fresh_op.configure_client(
            RP_CLIENT_ID, redirect_uris=[CALLBACK], backchannel_logout_uri=base + LOGOUT_PATH
        )
        async with browser_for(other) as browser:
            token = await signed_in(browser, fresh_op, "alice")
            assert (await browser.get("/auth/me", headers=bearer(token))).status_code == 200
            deliveries = await backchannel_logout(fresh_op, "alice")
            assert [d["delivered"] for d in deliveries] == [True], deliveries
            refused = await browser.get("/auth/me", headers=bearer(token))
            assert refused.status_code == 401
            assert refused.json()["error"] == "session_revoked"
        assert len(recorder.bodies) == 1
        user = await receiver.users.find_by_email("alice@example.com")
        assert user is not None
        events = await receiver.audit.query(user_id=user.id, limit=20)
        ended = [e for e in events if e.event == "session_revoked"]
        assert ended and ended[0].detail == {"reason": "provider_logout"}
        assert ended[0].actor == "provider:op"

        # The same logout token again: refused (jti), and nothing else happens.
        async with httpx.AsyncClient(base_url=base, trust_env=False) as http:
            replay = await http.post(
                LOGOUT_PATH,
                content=recorder.bodies[0],
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert replay.status_code == 400
            assert replay.json()["error"] == "invalid_id_token"


async def test_a_forged_or_malformed_logout_request_is_refused(
    instances: tuple[SessionJWT, SessionJWT], fresh_op: LocalOP
) -> None:
    receiver, _ = instances
    async with browser_for(receiver) as http:
        for body in (b"", b"logout_token=not.a.jwt", b"logout_token=a&logout_token=b"):
            answer = await http.post(
                LOGOUT_PATH,
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code == 400, body
            assert answer.json()["error"] == "invalid_id_token"
