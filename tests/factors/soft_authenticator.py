"""A software WebAuthn authenticator *and* the browser around it, for the HTTP attack tests.

It plays the client's whole role: it builds ``clientDataJSON`` (type, challenge, origin), the
authenticator data (RP id hash, flags, signature counter, attested credential data), signs
with its own ES256 key (``cryptography``) and encodes with ``cbor2`` — by the WebAuthn Level 2
byte layouts, not through the server's library. Every field a browser would fill in can be
overridden, which is what an attacker controls: another origin, another RP id, another
challenge, a counter that goes back. The real-browser behaviour (Chromium's virtual
authenticator on the pages) is what ``tests/e2e/test_passkeys.py`` proves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes(16)  # "none" attestation: zero AAGUID is what browsers send anyway


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One credential the authenticator holds (a resident key: it knows its user)."""

    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    origin: str
    user_verification: bool = True
    backup_eligible: bool = False
    backed_up: bool = False
    counter: bool = True  # False: always 0, as synced passkeys do
    credentials: dict[str, Credential] = field(default_factory=dict)

    # -- navigator.credentials.create() -----------------------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """The registration response for ``options`` (the server's JSON), as a browser sends
        it; ``credential_id``: claim an id of one's choice (attestation "none" signs nothing)."""
        rp = rp_id or options["rp"]["id"]
        credential = Credential(
            credential_id=credential_id or secrets.token_bytes(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64url(options["user"]["id"]),
        )
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        attested = (
            AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        auth_data = self._auth_data(rp, AT, credential.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials[credential.id] = credential
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    # -- navigator.credentials.get() --------------------------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: str | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        sign_count: int | None = None,
        forge_signature: bool = False,
    ) -> dict[str, Any]:
        """An assertion for ``options``: the named credential, else one the options allow
        (or, with an empty allow list, the first this authenticator holds for the RP)."""
        credential = self._choose(options, credential_id)
        if sign_count is None:
            if self.counter:
                credential.sign_count += 1
            sign_count = credential.sign_count
        rp = rp_id or options.get("rpId") or credential.rp_id
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = self._auth_data(rp, 0, sign_count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if forge_signature:
            signature = ec.generate_private_key(ec.SECP256R1()).sign(
                signed, ec.ECDSA(hashes.SHA256())
            )
        return {
            "id": credential.id,
            "rawId": credential.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def only(self) -> Credential:
        (credential,) = self.credentials.values()
        return credential

    # -- the bytes ----------------------------------------------------------------------------

    def _choose(self, options: dict[str, Any], credential_id: str | None) -> Credential:
        if credential_id is not None:
            return self.credentials[credential_id]
        allowed = [entry["id"] for entry in options.get("allowCredentials") or []]
        for candidate in self.credentials.values():
            if not allowed or candidate.id in allowed:
                return candidate
        raise LookupError("this authenticator holds none of the allowed credentials")

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin},
            separators=(",", ":"),
        ).encode()

    def _auth_data(self, rp_id: str, extra_flags: int, sign_count: int) -> bytes:
        flags = UP | extra_flags
        if self.user_verification:
            flags |= UV
        if self.backup_eligible:
            flags |= BE
        if self.backed_up:
            flags |= BS
        return (
            hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)
        )
