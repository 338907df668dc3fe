"""The scale benchmark still runs end to end, tiny, so that it cannot rot between releases;
and the visibility benchmark's raw client reads what servers answer (its run end to end is in
``test_benchmarks_smoke.py``).

No timing is asserted: the suite runs on shared machines where any threshold would flake.
"""

from __future__ import annotations

import asyncio

import pytest
from benchmarks import scale, visibility


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
