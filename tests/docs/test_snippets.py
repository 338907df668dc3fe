"""Every code block of README.md and docs/ that is meant to run, run as written: a reader who
copies one gets no NameError, no 500 and no silent misconfiguration (see snippets.py for how a
block says what it is)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from sessionjwt.web.public import is_public
from tests.conftest import PASSWORD
from tests.docs.snippets import KINDS, ROOT, Snippet, all_snippets

SNIPPETS = all_snippets()
PYTHON = [s for s in SNIPPETS if s.lang == "python"]
NAMED = {s.name: s for s in PYTHON if s.name}
FAST_HASHING = {
    "SESSIONJWT_ARGON2_TIME_COST": "1",
    "SESSIONJWT_ARGON2_MEMORY_COST_KIB": "1024",
    "SESSIONJWT_ARGON2_PARALLELISM": "1",
}
# What a reader of the resource-server snippet has in their own environment.
READER_ENVIRONMENT = {"ORDERS_CLIENT_SECRET": "from `sessionjwt clients create orders`"}


def ids(snippet: Snippet) -> str:
    return snippet.where


@pytest.fixture
def reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A reader's fresh shell: no SESSIONJWT_* of ours, a fresh data directory as the cwd."""
    for name in [n for n in os.environ if n.startswith("SESSIONJWT_")]:
        monkeypatch.delenv(name)
    for name, value in {"SESSIONJWT_DATA_DIR": str(tmp_path / "data"), **FAST_HASHING}.items():
        monkeypatch.setenv(name, value)
    for name, value in READER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def program_of(snippet: Snippet) -> str:
    if snippet.extends is None:
        return snippet.code
    base = NAMED.get(snippet.extends)
    assert base is not None, f"{snippet.where} extends an unknown snippet {snippet.extends!r}"
    return program_of(base) + snippet.code


def execute(snippet: Snippet) -> types.ModuleType:
    module = types.ModuleType(f"snippet_{snippet.line}")
    sys.modules[module.__name__] = module
    try:
        # dont_inherit: this file's own "from __future__ import annotations" must not leak in.
        code = compile(program_of(snippet), snippet.where, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - the docs are our own code
    finally:
        del sys.modules[module.__name__]
    return module


def test_every_python_block_says_how_it_is_checked() -> None:
    unmarked = [s.where for s in PYTHON if s.kind not in KINDS - {"shell"}]
    assert unmarked == [], "mark these blocks (tests/docs/snippets.py lists the markers)"
    unexplained = [s.where for s in PYTHON if s.kind in {"build", "fragment"} and not s.reason]
    assert unexplained == [], "a block that is not run says why"


@pytest.mark.parametrize("snippet", [s for s in PYTHON if s.kind == "fragment"], ids=ids)
def test_fragments_are_python(snippet: Snippet) -> None:
    compile(
        snippet.code, snippet.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


@pytest.mark.parametrize("snippet", [s for s in PYTHON if s.kind == "script"], ids=ids)
def test_scripts_run_to_the_end(reader: Path, snippet: Snippet) -> None:
    execute(snippet)


@pytest.mark.parametrize("snippet", [s for s in PYTHON if s.kind == "build"], ids=ids)
def test_programs_that_need_other_hosts_build_their_app(reader: Path, snippet: Snippet) -> None:
    module = execute(snippet)
    assert isinstance(getattr(module, "app", None), FastAPI)


@pytest.mark.parametrize("snippet", [s for s in PYTHON if s.kind == "app"], ids=ids)
async def test_apps_serve_their_routes(reader: Path, snippet: Snippet) -> None:
    """Served with its lifespan: a user signs up and in through its router, and every GET
    route the snippet itself defines answers 200 to them (and to anyone, if public)."""
    module = execute(snippet)
    app = module.app
    own = [
        route
        for route in app.routes
        if isinstance(route, APIRoute)
        and route.endpoint.__module__ == module.__name__
        and "GET" in (route.methods or ())
        and "{" not in route.path
    ]
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://testserver") as client,
    ):
        account = {"email": "reader@example.com", "password": PASSWORD}
        assert (await client.post("/auth/register", json=account)).status_code == 201
        signed_in = await client.post("/auth/login", json=account)
        assert signed_in.status_code == 200, signed_in.text
        bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        for route in own:
            answer = await client.get(route.path, headers=bearer)
            assert answer.status_code == 200, f"{route.path}: {answer.text}"
            anonymous = await client.get(route.path)
            assert anonymous.status_code == (200 if is_public(route.endpoint) else 401)


SHELL = [s for s in SNIPPETS if s.kind == "shell"]


@pytest.mark.parametrize("snippet", SHELL, ids=ids)
def test_shell_blocks_run(reader: Path, snippet: Snippet) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", snippet.code],
        env=env,
        cwd=reader,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{snippet.where}:\n{done.stdout}\n{done.stderr}"


def test_the_harness_finds_the_blocks() -> None:
    assert (ROOT / "README.md").exists() and len(PYTHON) >= 5 and SHELL
