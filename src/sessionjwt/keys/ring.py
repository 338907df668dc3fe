"""Signing keys as a ring addressed by ``kid``: sign with the active key, verify with any known.

A key record is ``(kid, alg, key)``: the algorithm is pinned by the key, never taken from a
token, so ``none`` and algorithm-confusion attacks have nothing to select. Private material is
stored AES-256-GCM-encrypted under the master key, with the ``kid`` as associated data so an
encrypted blob cannot be swapped between rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt import PyJWS
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from sessionjwt.errors import ConfigurationError
from sessionjwt.identifiers import new_identifier

KeyState = Literal["next", "active", "retiring", "retired"]
ASYMMETRIC = frozenset({"EdDSA", "ES256", "PS256", "RS256"})
RSA = frozenset({"PS256", "RS256"})
RSA_KEY_BITS = 3072  # NIST SP 800-57: 128-bit security, like P-256 and Ed25519
HMAC_KEY_BYTES = 64


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    kid: str
    alg: str
    state: KeyState
    signing_key: Any = field(repr=False)
    verifying_key: Any = field(repr=False)
    jws: PyJWS = field(repr=False)
    created_at: float | None = None
    activated_at: float | None = None  # started signing
    deactivated_at: float | None = None  # stopped signing (retiring)

    def public_jwk(self) -> dict[str, Any] | None:
        """The JWK other services verify with; ``None`` for HMAC keys, which are never published."""
        if self.alg == "EdDSA":
            jwk = OKPAlgorithm.to_jwk(self.verifying_key, as_dict=True)
        elif self.alg == "ES256":
            jwk = ECAlgorithm.to_jwk(self.verifying_key, as_dict=True)
        elif self.alg in RSA:
            jwk = RSAAlgorithm.to_jwk(self.verifying_key, as_dict=True)
        else:
            return None
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def new_kid() -> str:
    return new_identifier(12)


def generate_private_bytes(alg: str) -> bytes:
    if alg == "EdDSA":
        private: Any = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg in RSA:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    elif alg == "HS256":
        return secrets.token_bytes(HMAC_KEY_BYTES)
    else:
        raise ConfigurationError(f"unsupported signing algorithm {alg!r}")
    return private.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def build_key(
    kid: str,
    alg: str,
    state: KeyState,
    private_bytes: bytes,
    *,
    created_at: float | None = None,
    activated_at: float | None = None,
    deactivated_at: float | None = None,
) -> SigningKey:
    if alg in ASYMMETRIC:
        private: Any = serialization.load_der_private_key(private_bytes, password=None)
        if alg == "EdDSA" and not isinstance(private, ed25519.Ed25519PrivateKey):
            raise ConfigurationError(f"key {kid} is not an Ed25519 key")
        if alg == "ES256" and not (
            isinstance(private, ec.EllipticCurvePrivateKey)
            and isinstance(private.curve, ec.SECP256R1)
        ):
            raise ConfigurationError(f"key {kid} is not a P-256 key")
        if alg in RSA and not (isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048):
            raise ConfigurationError(f"key {kid} is not an RSA key of at least 2048 bits")
        public = private.public_key()
    elif alg == "HS256":
        private = public = private_bytes
    else:
        raise ConfigurationError(f"unsupported signing algorithm {alg!r}")
    # An instance that knows exactly one algorithm: the token cannot ask for another.
    jws = PyJWS(algorithms=[alg])
    return SigningKey(
        kid, alg, state, private, public, jws, created_at, activated_at, deactivated_at
    )


def encrypt_private_bytes(master_key: bytes, kid: str, private_bytes: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(master_key).encrypt(nonce, private_bytes, kid.encode())


def decrypt_private_bytes(master_key: bytes, kid: str, blob: bytes) -> bytes:
    try:
        return AESGCM(master_key).decrypt(blob[:12], blob[12:], kid.encode())
    except InvalidTag as error:
        raise ConfigurationError(
            f"cannot decrypt signing key {kid}: wrong master key, or the row was tampered with"
        ) from error


class KeyRing:
    """The verification set by ``kid`` plus the one key that signs. Immutable; replace to rotate.

    Retired kids are remembered (without material) so that their tokens get ``key_retired``
    rather than the ``invalid_token`` of a kid never published.
    """

    def __init__(self, keys: Iterable[SigningKey], retired: frozenset[str] = frozenset()) -> None:
        usable = [key for key in keys if key.state != "retired"]
        self._by_kid: Mapping[str, SigningKey] = {key.kid: key for key in usable}
        self.retired = retired
        active = [key for key in usable if key.state == "active"]
        if not active:
            raise ConfigurationError("the key ring has no active signing key")
        self.active = active[-1]

    def get(self, kid: str) -> SigningKey | None:
        return self._by_kid.get(kid)

    def is_retired(self, kid: str) -> bool:
        return kid in self.retired

    def __iter__(self) -> Any:
        return iter(self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [jwk for key in self if (jwk := key.public_jwk()) is not None]}


__all__ = [
    "KeyRing",
    "SigningKey",
    "build_key",
    "decrypt_private_bytes",
    "encrypt_private_bytes",
    "generate_private_bytes",
    "new_kid",
]
