"""The access log: off by default, one JSON line per request when on, and never a token, a
cookie, a header value or the query string in it. ``sessionjwt serve --access-log`` end to
end (a real process) is in ``test_serve_workers.py``."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.server import cli
from sessionjwt.server.access_log import ACCESS_LOGGER, AccessLogMiddleware
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, T0, make_settings

SECRET_QUERY = "query-secret-3f9a1c"
COOKIE_VALUE = "cookie-secret-8b2d4e"
PEER = ("203.0.113.9", 40000)


@pytest.fixture
async def logged(tmp_path: Path) -> AsyncIterator[tuple[SessionJWT, httpx.AsyncClient]]:
    auth = SessionJWT(make_settings(tmp_path, access_log=True), clock=ManualClock(T0))
    app = create_app(auth=auth)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=PEER)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield auth, http


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage()) for record in caplog.records if record.name == ACCESS_LOGGER
    ]


async def test_a_line_per_request_without_token_cookie_or_query(
    logged: tuple[SessionJWT, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    auth, http = logged
    await auth.register("alice@example.com", PASSWORD)
    pair = await auth.login("alice@example.com", PASSWORD)
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    answer = await http.get(
        f"/auth/me?token={SECRET_QUERY}&x=1",
        headers={
            "Authorization": f"Bearer {pair.access_token}",
            "Cookie": f"__Host-sjwt-access={COOKIE_VALUE}; other={COOKIE_VALUE}",
            "User-Agent": "agent-secret-77aa",
        },
    )
    assert answer.status_code == 200, answer.text
    refused = await http.get("/auth/me", headers={"Authorization": f"Bearer {COOKIE_VALUE}"})
    assert refused.status_code == 401

    lines = access_lines(caplog)
    assert len(lines) == 2
    ok, no = lines
    assert {k: ok[k] for k in ("method", "path", "status", "ip", "bytes_in")} == {
        "method": "GET",
        "path": "/auth/me",
        "status": 200,
        "ip": PEER[0],
        "bytes_in": 0,
    }
    assert isinstance(ok["duration_ms"], float) and ok["duration_ms"] >= 0
    assert ok["ts"].endswith("Z")
    assert set(ok) == {"ts", "method", "path", "status", "duration_ms", "ip", "bytes_in"}
    assert (no["path"], no["status"]) == ("/auth/me", 401)
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (
        pair.access_token,
        pair.access_token.split(".")[2],  # even the signature alone
        pair.refresh_token,
        SECRET_QUERY,
        COOKIE_VALUE,
        "agent-secret",
        "token=",
        "Bearer",
    ):
        assert secret not in text


async def test_request_size_is_the_declared_length(
    logged: tuple[SessionJWT, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _auth, http = logged
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    body = {"email": "bob@example.com", "password": PASSWORD}
    answer = await http.post("/auth/register", json=body)
    assert answer.status_code == 201
    (line,) = access_lines(caplog)
    assert (line["method"], line["path"], line["status"]) == ("POST", "/auth/register", 201)
    assert line["bytes_in"] == len(json.dumps(body, separators=(",", ":")))
    assert PASSWORD not in caplog.text


async def test_off_by_default_no_middleware_no_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    assert settings.access_log is False
    auth = SessionJWT(settings, clock=ManualClock(T0))
    app = create_app(auth=auth)
    assert AccessLogMiddleware not in [getattr(m, "cls", None) for m in app.user_middleware]
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=PEER)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/healthz")).status_code == 200
    assert access_lines(caplog) == []


async def test_forwarded_for_only_from_a_trusted_proxy(caplog: pytest.LogCaptureFixture) -> None:
    async def hello(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    headers = {"X-Forwarded-For": "198.51.100.1, 192.0.2.50"}
    for proxies, expected in (([], "192.0.2.10"), (["192.0.2.0/24"], "198.51.100.1")):
        settings = make_settings(Path("/nonexistent"), trusted_proxies=",".join(proxies))
        app = AccessLogMiddleware(hello, trusted_proxies=settings.trusted_proxies)
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/x", headers=headers)).status_code == 204
        assert access_lines(caplog)[-1]["ip"] == expected
    assert "X-Forwarded-For" not in caplog.text and "198.51.100.1, " not in caplog.text


async def test_a_request_that_fails_before_answering_is_logged_as_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    transport = httpx.ASGITransport(app=AccessLogMiddleware(broken), client=PEER)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        with pytest.raises(RuntimeError, match="boom"):
            await http.get("/x?token=abc")
    (line,) = access_lines(caplog)
    assert (line["path"], line["status"]) == ("/x", 500)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [((), None), (("--access-log",), "true"), (("--no-access-log",), "false")],
)
def test_serve_flag_reaches_the_workers_and_uvicorn_logs_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: tuple[str, ...],
    expected: str | None,
) -> None:
    """The flag is handed to the worker processes through ``SESSIONJWT_ACCESS_LOG`` (they
    build their settings from the environment); uvicorn's own access log is always off."""
    import uvicorn

    for name in ("SESSIONJWT_ACCESS_LOG", "SESSIONJWT_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SESSIONJWT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SESSIONJWT_ISSUER", "http://127.0.0.1:8000")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append({"app": target, **kw}))
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # keep pytest's own handlers

    result = CliRunner().invoke(cli.app, ["serve", "--workers", "3", *flags])

    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call["app"] == "sessionjwt.server.app:service_app" and call["factory"] is True
    assert (call["workers"], call["access_log"]) == (3, False)
    assert os.environ.get("SESSIONJWT_ACCESS_LOG") == expected


def test_serve_takes_the_worker_count_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setenv("SESSIONJWT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SESSIONJWT_ISSUER", "http://127.0.0.1:8000")
    monkeypatch.setenv("SESSIONJWT_WORKERS", "2")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append(kw))
    monkeypatch.setattr(signal, "signal", lambda *_: None)

    result = CliRunner().invoke(cli.app, ["serve"])

    assert result.exit_code == 0, result.output
    assert calls[0]["workers"] == 2
    assert CliRunner().invoke(cli.app, ["serve", "--workers", "0"]).exit_code == 2
