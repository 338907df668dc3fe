"""Helpers for the RFC 7662 / RFC 7009 tests: clients, Basic credentials, form posts."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import httpx

from sessionjwt import SessionJWT
from sessionjwt.clock import to_datetime
from sessionjwt.db.tables import clients
from sessionjwt.oauth.clients import hash_client_secret

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# The client of the RFCs' examples: "Authorization: Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW".
RFC_CLIENT_ID = "s6BhdRkqt3"
RFC_CLIENT_SECRET = "gX1fBat3bV"
RFC_BASIC = "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"


async def register_rfc_client(auth: SessionJWT) -> None:
    """Put the RFCs' example client in the table, so their requests can be sent verbatim.

    (``create_client`` picks ids and secrets itself; this is the only way to get these.)"""
    async with auth.database.write() as connection:
        await connection.execute(
            clients.insert().values(
                client_id=RFC_CLIENT_ID,
                name="RFC example client",
                secret_hash=hash_client_secret(RFC_CLIENT_SECRET),
                created_at=to_datetime(auth.clock.now()),
            )
        )


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: each half form-urlencoded, joined by a colon, base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


async def introspect(
    http: httpx.AsyncClient,
    token: str,
    credentials: tuple[str, str] | None,
    **fields: str,
) -> httpx.Response:
    headers = basic(*credentials) if credentials else {}
    return await http.post("/oauth/introspect", data={"token": token, **fields}, headers=headers)


async def revoke(
    http: httpx.AsyncClient,
    token: str,
    credentials: tuple[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    headers = basic(*credentials) if credentials else {}
    return await http.post("/oauth/revoke", data={"token": token, **fields}, headers=headers)


def active(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["active"] is True, body
    return body


def assert_inactive(response: httpx.Response) -> None:
    """RFC 7662 §2.2: an inactive token gets exactly ``{"active": false}``, uncached."""
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}
    assert response.headers["cache-control"] == "no-store"


def assert_oauth_error(response: httpx.Response, status: int, code: str) -> None:
    """RFC 6749 §5.2 shape, never cached; 401 invalid_client challenges with Basic."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == code, body
    assert response.headers["cache-control"] == "no-store"
    if code == "invalid_client":
        assert response.headers["www-authenticate"].startswith("Basic ")
