"""Oversized requests: a 20 MB login body, a chunked body with no length, a 64 KiB header and
10,000 headers are each refused by their size (413 ``request_too_large``, 431
``request_headers_too_large``) before anything parses them, and a request just within the
limits still works.

"Before parsing" is shown by counting: the bodies come from generators that count what the
service pulled out of them, so a refusal after reading the first few kilobytes of 20 MB is
visible without any clock. Against the real ``sessionjwt serve``, a request head that never
ends is cut off by the server itself (the app never sees an unfinished head).
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.server.app import create_app
from tests.attacks.expect import Victim, assert_too_large, assert_victim_unharmed
from tests.conftest import PASSWORD, bearer, make_settings
from tests.test_serve_workers import server_env, serving

MB = 1_000_000
CHUNK = 4096


class CountedBody:
    """A request body streamed in ``CHUNK``-byte pieces that remembers how much was taken."""

    def __init__(self, prefix: bytes, total: int) -> None:
        self.prefix = prefix
        self.total = total
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        data = self.prefix + b" " * (self.total - len(self.prefix))  # JSON, then whitespace
        for start in range(0, self.total, CHUNK):
            chunk = data[start : start + CHUNK]
            self.taken += len(chunk)
            yield chunk


def login_json(email: str, size: int) -> bytes:
    """A valid login body padded with JSON whitespace to exactly ``size`` bytes."""
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    return body + b" " * (size - len(body))


LOGIN_PREFIX = b'{"email": "victim@example.com", "password": "x", "pad": "'


async def test_a_20_mb_login_with_its_length_is_refused_before_a_byte_is_read(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    body = CountedBody(LOGIN_PREFIX, 20 * MB)
    response = await client.post(
        "/auth/login",
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": str(body.total)},
    )

    assert_too_large(response, 413)
    assert response.headers["connection"] == "close"
    assert body.taken == 0  # refused on Content-Length alone
    await assert_victim_unharmed(client, victim)


async def test_a_chunked_20_mb_login_is_refused_once_it_passes_the_limit(
    client: httpx.AsyncClient, victim: Victim, settings: Settings
) -> None:
    body = CountedBody(LOGIN_PREFIX, 20 * MB)
    response = await client.post(
        "/auth/login", content=body, headers={"Content-Type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_too_large(response, 413)
    # Read up to the first chunk past the limit, then no further.
    assert settings.max_body_bytes < body.taken <= settings.max_body_bytes + CHUNK
    await assert_victim_unharmed(client, victim)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_login_of_exactly_the_limit_works_one_byte_more_does_not(
    client: httpx.AsyncClient, victim: Victim, settings: Settings, chunked: bool
) -> None:
    limit = settings.max_body_bytes

    async def post(size: int) -> httpx.Response:
        data = login_json(victim.email, size)
        if chunked:
            stream = CountedBody(data, size)
            return await client.post(
                "/auth/login", content=stream, headers={"Content-Type": "application/json"}
            )
        return await client.post(
            "/auth/login", content=data, headers={"Content-Type": "application/json"}
        )

    accepted = await post(limit)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["token_type"] == "Bearer"
    assert_too_large(await post(limit + 1), 413)


async def test_a_64_kib_header_is_refused_before_the_guard_reads_it(
    client: httpx.AsyncClient, victim: Victim
) -> None:
    headers = {**bearer(victim.access_token), "X-Padding": "a" * 64 * 1024}
    assert_too_large(await client.get("/auth/me", headers=headers), 431)
    assert_too_large(await client.get("/healthz", headers=headers), 431)  # public routes too
    await assert_victim_unharmed(client, victim)


async def test_ten_thousand_headers_are_refused(client: httpx.AsyncClient, victim: Victim) -> None:
    headers = [("Authorization", f"Bearer {victim.access_token}")]
    headers += [(f"X-H{number}", "1") for number in range(10_000)]
    assert_too_large(await client.get("/auth/me", headers=headers), 431)
    await assert_victim_unharmed(client, victim)


async def test_a_path_given_a_larger_limit_takes_what_the_default_refuses(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, max_body_bytes_by_path={"/auth/login": 64 * 1024})
    async with SessionJWT(settings, clock=clock) as auth:
        await auth.register("victim@example.com", PASSWORD)
        transport = httpx.ASGITransport(app=create_app(auth=auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            big = login_json("victim@example.com", 32 * 1024)
            json_type = {"Content-Type": "application/json"}
            login = await http.post("/auth/login", content=big, headers=json_type)
            assert login.status_code == 200, login.text
            other = await http.post("/auth/register", content=big, headers=json_type)
            assert_too_large(other, 413)  # the default still holds everywhere else


def test_serve_cuts_off_a_request_head_that_never_ends(tmp_path: Path) -> None:
    """A header that keeps growing and never ends: the app cannot see it (the head is never
    complete), so the answer can only come from the server's own bound."""
    with serving(server_env(tmp_path), tmp_path / "serve.log") as (_process, base):
        port = int(base.rsplit(":", 1)[1])
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        with connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
            answered = False
            sent = 0
            try:
                while sent < 8 * MB and not answered:
                    connection.sendall(b"a" * 16384)
                    sent += 16384
                    answered = bool(select.select([connection], [], [], 0.01)[0])
            except (BrokenPipeError, ConnectionResetError):
                answered = True  # closed on us while we were still sending
            assert answered, "the server read 8 MB of one header and kept waiting"
            try:
                reply = connection.recv(65536)
            except ConnectionResetError:
                reply = b""  # the close overtook the answer
    assert sent < 8 * MB
    if reply:
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 "), reply[:200]
        assert b"connection: close" in head.lower()
        assert json.loads(body)["error"] == "request_headers_too_large"
