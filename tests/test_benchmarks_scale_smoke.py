"""The scale and revocation-visibility benchmarks still run end to end, tiny, so they cannot rot
between releases.

No timing is asserted: the suite runs on shared machines where any threshold would flake.
"""

from __future__ import annotations

import asyncio

import pytest
from benchmarks import scale, visibility

from tests import backends


def test_scale_benchmark_runs_and_sign_out_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = scale.main(["--sessions-large", "2000", "--sessions-small", "100", "--repeats", "2"])

    output = capsys.readouterr().out
    assert code == 0, output
    for line in (
        "os.cpu_count()=",
        "backend: SQLite",
        "build: small store 100 sessions",
        "large store 10,002 sessions",  # the 10,000-session user does not fit in 2,000
        "warm check, 100 stored",
        "cold check, 10,002 stored",
        "warm check large/small store:",
        "target ≤ 1.1x:",
        "cold check large/small store:",
        "sign-out-everywhere: 1 session",
        "10,000 sessions",
        "target ≤ 1.5x:",
        "after each of 4 sign-outs): yes",
    ):
        assert line in output, line


@pytest.mark.postgres
@pytest.mark.redis
def test_visibility_benchmark_runs_and_every_instance_refuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reason = backends.postgres_unavailable_reason() or backends.redis_unavailable_reason()
    if reason is not None:
        if backends.IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)

    code = visibility.main(["--revokes", "5", "--instances", "2"])

    output = capsys.readouterr().out
    assert code == 0, output
    for line in (
        "2 `sessionjwt serve` processes on one PostgreSQL database",
        "client: httpx",
        "5 revokes x 1 other instances",
        "per instance: p50",
        "refused by the first request sent after t0:",
        "200s for requests sent after t0 + 5 ms:",
        "never refused within 2 s: 0",
        "GET /healthz round trip: p50",
        "target p99 ≤ 5 ms",
    ):
        assert line in output, line
    assert "unexpected answers" not in output


async def test_raw_client_reads_answers_with_and_without_a_body() -> None:
    """The ``--client raw`` path, without starting servers: keep-alive, 204, a JSON 401."""
    body = b'{"error": "session_revoked", "message": "signed out"}'
    answers = [
        b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n",
        b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body,
    ]
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:  # one connection for both: keep-alive
            requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = visibility.RawClient(port)
    try:
        logout = await client.request("POST", "/auth/logout", "tok")
        me = await client.request("GET", "/auth/me", "tok")
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()

    assert (logout.status, logout.error) == (204, None)
    assert (me.status, me.error) == (401, "session_revoked")
    assert me.started <= me.sent <= me.head <= me.done
    assert requests[0].startswith(b"POST /auth/logout HTTP/1.1\r\n")
    assert b"Authorization: Bearer tok\r\n" in requests[1]
