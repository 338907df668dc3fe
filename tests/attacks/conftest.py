"""Fixtures for the attack files: a signed-in victim and the server's active signing key."""

from __future__ import annotations

import httpx
import pytest

from sessionjwt import SessionJWT
from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import Victim
from tests.conftest import bearer, register_and_login


async def sign_in(client: httpx.AsyncClient, email: str, *, register: bool = True) -> Victim:
    """Register (unless ``register=False``: another device of an existing account) and log in
    over HTTP; the user's real tokens and ids."""
    body = await register_and_login(client, email, register=register)
    me = await client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    return Victim(
        email=email,
        user_id=me.json()["id"],
        session_id=body["session_id"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


@pytest.fixture
async def victim(client: httpx.AsyncClient) -> Victim:
    return await sign_in(client, "victim@example.com")


@pytest.fixture
def ours(auth: SessionJWT) -> SigningKey:
    """The server's active signing key (the tests read its public half, like an attacker
    reading a JWKS; tests that need a correctly signed token use its private half)."""
    return auth.key_ring().active
