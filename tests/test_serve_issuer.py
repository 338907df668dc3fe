"""``sessionjwt serve`` names the issuer it can be reached at: an unset ``SESSIONJWT_ISSUER``
follows a loopback bind address (and the workers agree), and a public bind without one
refuses to start with one line, since tokens naming the wrong ``iss`` are refused by every
resource server."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from sessionjwt.errors import ConfigurationError
from sessionjwt.server import cli
from sessionjwt.server.issuer import serving_issuer
from sessionjwt.settings import Settings
from tests.conftest import PASSWORD
from tests.test_serve_workers import server_env, serving


@pytest.fixture
def no_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset for the test, and restored after it (serve writes the derived one for workers)."""
    monkeypatch.setenv("SESSIONJWT_ISSUER", "placeholder")
    monkeypatch.delenv("SESSIONJWT_ISSUER")


@pytest.mark.parametrize(
    ("host", "port", "issuer"),
    [
        ("127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("localhost", 8123, "http://localhost:8123"),
        ("::1", 8000, "http://[::1]:8000"),
        ("127.0.0.2", 80, "http://127.0.0.2:80"),
    ],
)
def test_an_unset_issuer_follows_a_loopback_bind_address(
    no_issuer: None, host: str, port: int, issuer: str
) -> None:
    assert serving_issuer(Settings(), host, port) == (issuer, True)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "auth.internal"])  # noqa: S104
def test_a_public_bind_address_needs_the_issuer(no_issuer: None, host: str) -> None:
    with pytest.raises(ConfigurationError, match="needs SESSIONJWT_ISSUER"):
        serving_issuer(Settings(), host, 8000)
    configured = Settings(issuer="https://auth.example.com")
    assert serving_issuer(configured, host, 8000) == ("https://auth.example.com", False)


@pytest.fixture
def uvicorn_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``serve`` up to the point it would start uvicorn: what it would have started it with."""
    import uvicorn

    monkeypatch.setenv("SESSIONJWT_DATA_DIR", str(tmp_path))
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append(kw))
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    return calls


def test_serve_on_all_interfaces_without_an_issuer_refuses_to_start(
    no_issuer: None, tmp_path: Path, uvicorn_runs: list[dict[str, Any]]
) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--host", "0.0.0.0"])  # noqa: S104 - refused before binding

    assert result.exit_code == 2 and uvicorn_runs == []
    (line,) = result.output.strip().splitlines()
    assert line.startswith("configuration error: serving on 0.0.0.0 needs SESSIONJWT_ISSUER")
    assert not (tmp_path / "sessionjwt.db").exists()  # refused before anything was created


def test_serve_says_which_issuer_it_derived_and_hands_it_to_the_workers(
    no_issuer: None, uvicorn_runs: list[dict[str, Any]]
) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--port", "18555"])

    assert result.exit_code == 0, result.output
    assert "issuer http://127.0.0.1:18555 (from the bind address" in result.output
    assert os.environ["SESSIONJWT_ISSUER"] == "http://127.0.0.1:18555"
    assert uvicorn_runs[0]["port"] == 18555


def test_tokens_from_a_served_instance_name_its_own_address(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    del env["SESSIONJWT_ISSUER"]
    with serving(env, tmp_path / "serve.log", "--workers", "2") as (_, base):
        with httpx.Client(base_url=base, timeout=10) as http:
            metadata = http.get("/.well-known/oauth-authorization-server").json()
            http.post("/auth/register", json={"email": "a@example.com", "password": PASSWORD})
            tokens = http.post(
                "/auth/login", json={"email": "a@example.com", "password": PASSWORD}
            ).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert metadata["issuer"] == claims["iss"] == base
    assert f"issuer {base} (from the bind address" in (tmp_path / "serve.log").read_text()
