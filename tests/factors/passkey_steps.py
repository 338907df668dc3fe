"""The HTTP steps of the passkey tests, as a client app calls them (bearer tokens, JSON)."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from tests.conftest import ISSUER, PASSWORD, bearer
from tests.factors.soft_authenticator import SoftAuthenticator

ORIGIN = ISSUER  # the default WebAuthn origin is the issuer's
RP_ID = "auth.example.test"


def device(**options: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, **options)


def amr(access_token: str) -> list[str]:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    methods: list[str] = claims["amr"]
    return methods


async def registration(client: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    started = await client.post("/auth/passkeys/registration/options", headers=bearer(access_token))
    assert started.status_code == 200, started.text
    body: dict[str, Any] = started.json()
    return body


async def register(
    client: httpx.AsyncClient,
    access_token: str,
    challenge_token: str,
    credential: dict[str, Any],
    name: str | None = "Laptop",
) -> httpx.Response:
    return await client.post(
        "/auth/passkeys/registration",
        json={"challenge_token": challenge_token, "credential": credential, "name": name},
        headers=bearer(access_token),
    )


async def add_passkey(
    client: httpx.AsyncClient,
    access_token: str,
    authenticator: SoftAuthenticator,
    name: str = "Laptop",
) -> dict[str, Any]:
    """Add a passkey from a signed-in (freshly proven) session; the 201 body."""
    ceremony = await registration(client, access_token)
    done = await register(
        client,
        access_token,
        ceremony["challenge_token"],
        authenticator.create(ceremony["options"]),
        name,
    )
    assert done.status_code == 201, done.text
    body: dict[str, Any] = done.json()
    return body


async def sign_in_options(
    client: httpx.AsyncClient, mfa_token: str | None = None
) -> dict[str, Any]:
    answer = await client.post(
        "/auth/passkeys/authentication/options",
        json={} if mfa_token is None else {"mfa_token": mfa_token},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def authenticate(
    client: httpx.AsyncClient,
    credential: dict[str, Any],
    *,
    challenge_token: str | None = None,
    mfa_token: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"credential": credential}
    if challenge_token is not None:
        body["challenge_token"] = challenge_token
    if mfa_token is not None:
        body["mfa_token"] = mfa_token
    return await client.post("/auth/passkeys/authentication", json=body)


async def passwordless(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, **assertion: Any
) -> httpx.Response:
    """Sign in with the passkey alone; ``assertion`` overrides what the client signs."""
    ceremony = await sign_in_options(client)
    credential = authenticator.get(ceremony["options"], **assertion)
    return await authenticate(client, credential, challenge_token=ceremony["challenge_token"])


async def password_step(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    answer = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body.get("mfa_required") is True, body
    return body


async def second_step(
    client: httpx.AsyncClient, mfa_token: str, authenticator: SoftAuthenticator, **assertion: Any
) -> httpx.Response:
    ceremony = await sign_in_options(client, mfa_token)
    credential = authenticator.get(ceremony["options"], **assertion)
    return await authenticate(client, credential, mfa_token=mfa_token)


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]
