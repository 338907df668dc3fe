"""Schemathesis against the served app's own OpenAPI document, in-process (ASGI).

Every operation is called with generated inputs, once anonymously and once with a fresh admin
bearer token (an admin can reach every route, so the authenticated paths are exercised past
the guard). Checks: never a 5xx, and status code, content type and body as the schema says.
Bounded by ``max_examples`` per operation so the whole file stays well under a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sessionjwt import SessionJWT, Settings
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, make_settings

MAX_EXAMPLES = 50
ADMIN = "admin@example.com"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Served:
    app: FastAPI
    schema: schemathesis.BaseSchema
    admin_headers: dict[str, str] | None = None


async def _create_admin(config: Settings) -> None:
    """Before the app starts: an admin account in the same database (a second service
    instance on the same SQLite file, closed again)."""
    service = SessionJWT(config)
    await service.start()
    try:
        await service.register(ADMIN, PASSWORD, roles=["admin"])
    finally:
        await service.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Up to one admin login per case, 50 cases for each of some thirty operations: more than
    # the suite's 1000/minute. Rate limits are not what this test is about.
    config = make_settings(
        tmp_path_factory.mktemp("fuzz-openapi"), login_rate_limit_ip="100000/minute"
    )
    asyncio.run(_create_admin(config))
    app = create_app(config)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield Served(app, schema)
    asgi.shutdown_lifespans()


def admin_bearer(served: Served) -> dict[str, str]:
    """A live admin session for the next case: the last one while it still answers (a read
    served from the session cache), a new sign-in once a generated logout or revoke ended it.
    Signing in for every case made this test the suite's slowest, for the same coverage."""
    with asgi.get_client(served.app) as client:  # type: ignore[arg-type]  # Starlette's ASGI types
        if served.admin_headers is not None:
            if client.get("/auth/me", headers=served.admin_headers).status_code == 200:
                return served.admin_headers
        response = client.post("/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert response.status_code == 200, response.text
    served.admin_headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return served.admin_headers


def fuzz_every_operation(served: Served, *, authenticated: bool) -> int:
    """Run each operation's strategy under :data:`BOUNDED`; the number of cases sent."""
    sent = 0
    for result in served.schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema itself must be valid
        operation = result.ok()

        @given(case=operation.as_strategy())
        @BOUNDED
        def run(case: schemathesis.Case[Any]) -> None:
            nonlocal sent
            headers = admin_bearer(served) if authenticated else None
            case.call_and_validate(headers=headers, checks=CHECKS)
            sent += 1

        run()
    return sent


BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_anonymous(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    sent = fuzz_every_operation(served, authenticated=False)
    assert sent >= len(list(served.schema.get_all_operations()))
    with capsys.disabled():
        print(f"\nschemathesis, anonymous: {sent} cases")


def test_with_an_admin_bearer_token(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    sent = fuzz_every_operation(served, authenticated=True)
    assert sent >= len(list(served.schema.get_all_operations()))
    with capsys.disabled():
        print(f"\nschemathesis, admin bearer: {sent} cases")
