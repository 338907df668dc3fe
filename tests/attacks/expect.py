"""What a refusal must look like on the wire, and proof that the victim was not harmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.attacks import forge
from tests.conftest import bearer


@dataclass(frozen=True, slots=True)
class Victim:
    """A signed-in user whose real tokens the attacker has seen (or is trying to forge)."""

    email: str
    user_id: str
    session_id: str
    access_token: str
    refresh_token: str

    @property
    def claims(self) -> dict[str, Any]:
        """The real access token's payload, decoded (no secret is needed to read it)."""
        return forge.claims_of(self.access_token)

    @property
    def header_segment(self) -> str:
        return forge.split(self.access_token)[0]

    @property
    def payload_segment(self) -> str:
        return forge.split(self.access_token)[1]

    @property
    def signature_segment(self) -> str:
        return forge.split(self.access_token)[2]

    def spliced(
        self, *, header: str | None = None, payload: str | None = None, signature: str | None = None
    ) -> str:
        """The real access token with the segments given put in place of its own: the others
        are kept exactly as the server signed them."""
        real_header, real_payload, real_signature = forge.split(self.access_token)
        return ".".join(
            (
                real_header if header is None else header,
                real_payload if payload is None else payload,
                real_signature if signature is None else signature,
            )
        )


async def attack(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """What the attacker sends: ``GET /auth/me`` with ``Authorization: Bearer <token>``."""
    return await client.get("/auth/me", headers=bearer(token))


def assert_refused(
    response: httpx.Response, code: str = "invalid_token", *, because: str | None = None
) -> None:
    """401 with exactly ``{"error": code, "message": ...}`` and an RFC 6750 invalid_token
    challenge; ``because`` (when given) must appear in the message, naming the check that fired."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code, body
    if because is not None:
        assert because in body["message"], body
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.headers["cache-control"] == "no-store"


def assert_too_large(response: httpx.Response, status: int = 431) -> None:
    """413 ``request_too_large`` or 431 ``request_headers_too_large``, in the envelope and
    never cached: the request was refused by its size alone, before anything parsed it."""
    code = {413: "request_too_large", 431: "request_headers_too_large"}[status]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code, body
    assert response.headers["cache-control"] == "no-store"


def assert_missing_token(response: httpx.Response) -> None:
    """401 ``missing_token``: no usable Bearer credentials, so a challenge without an error."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == "missing_token", body
    assert response.headers["www-authenticate"] == 'Bearer realm="sessionjwt"'


async def assert_signed_in(client: httpx.AsyncClient, victim: Victim, access_token: str) -> None:
    response = await client.get("/auth/me", headers=bearer(access_token))
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["id"] == victim.user_id
    assert me["session_id"] == victim.session_id


async def assert_victim_unharmed(client: httpx.AsyncClient, victim: Victim) -> None:
    """A bad token must never revoke the session it names: the real token still works."""
    await assert_signed_in(client, victim, victim.access_token)


async def assert_attack_refused(
    client: httpx.AsyncClient,
    victim: Victim,
    token: str,
    code: str = "invalid_token",
    *,
    because: str | None = None,
) -> None:
    """The attacker sends ``token``: refused as :func:`assert_refused` says, and the victim's
    own session still works afterwards."""
    assert_refused(await attack(client, token), code, because=because)
    await assert_victim_unharmed(client, victim)
