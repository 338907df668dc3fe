"""``examples/resource_server.py`` works as written, against a (fake) issuer."""

from __future__ import annotations

import importlib
import sys

import httpx
import pytest

from tests.resource_server.fake_issuer import (
    AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    FakeIssuer,
)


async def test_example_resource_server(issuer: FakeIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "RS_ISSUER": ISSUER,
        "RS_AUDIENCE": AUDIENCE,
        "RS_CLIENT_ID": CLIENT_ID,
        "RS_CLIENT_SECRET": CLIENT_SECRET,
        "RS_JWKS_URL": issuer.base_url + "/.well-known/jwks.json",
        "RS_INTROSPECTION_URL": issuer.base_url + "/oauth/introspect",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RS_REDIS_URL", raising=False)
    sys.modules.pop("examples.resource_server", None)
    example = importlib.import_module("examples.resource_server")
    transport = httpx.ASGITransport(app=example.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://orders.test") as http:
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/orders")).json()["error"] == "missing_token"
            token = issuer.token("u-1", "s-1")
            mine = await http.get("/orders", headers={"Authorization": f"Bearer {token}"})
            assert mine.status_code == 200 and mine.json()["user"] == "u-1"
            cancel = await http.delete("/orders/7", headers={"Authorization": f"Bearer {token}"})
            assert cancel.json()["error"] == "insufficient_role"
            issuer.revoked.add("s-1")
            fresh = issuer.token("u-1", "s-1")  # not in the 5 s answer cache: asked again
            gone = await http.get("/orders", headers={"Authorization": f"Bearer {fresh}"})
            assert gone.json()["error"] == "session_revoked"
    finally:
        await example.rs.close()
        sys.modules.pop("examples.resource_server", None)
