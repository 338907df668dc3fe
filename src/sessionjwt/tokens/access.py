"""Access tokens: RFC 9068-shaped JWTs that point at a session (``sid``) and say little else.

Decode policy, in order: size before parsing; each segment in its one canonical base64url
spelling (:mod:`sessionjwt.tokens.canonical`); the header must name a known ``kid`` whose pinned
algorithm equals ``alg`` (so ``none``/``None``/``null`` and HS256-with-a-public-key cannot
select anything); ``crit`` and ``b64`` are refused; ``typ`` must be ``at+jwt``; ``jku``, ``x5u``
and ``jwk`` are ignored (never fetched, never used); the signature (low-S, if ECDSA) is
verified before a single payload byte is read; then claims are parsed strictly (see
:mod:`sessionjwt.tokens.claims`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jwt import PyJWS
from jwt.exceptions import InvalidTokenError as PyJWTInvalidToken
from jwt.utils import base64url_decode

from sessionjwt.errors import InvalidToken, KeyRetired, UnknownSigningKey
from sessionjwt.keys.ring import KeyRing
from sessionjwt.tokens.canonical import is_canonical_segment, is_high_s, low_s
from sessionjwt.tokens.claims import AccessClaims, parse_access_claims, strict_json_object

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


@dataclass(frozen=True, slots=True)
class AccessTokenPolicy:
    issuer: str
    audience: str
    client_id: str
    ttl_seconds: int
    leeway_seconds: float
    max_token_bytes: int


class VerifyingKey(Protocol):
    """What verification needs of a key: its pinned algorithm, an instance-owned ``PyJWS``
    that knows only that algorithm, and the public (or HMAC) key."""

    @property
    def alg(self) -> str: ...

    @property
    def jws(self) -> PyJWS: ...

    @property
    def verifying_key(self) -> Any: ...


class VerifyingKeys(Protocol):
    """A verification set by ``kid``: the issuer's :class:`KeyRing`, or a resource server's
    set built from the published JWKS."""

    def get(self, kid: str) -> VerifyingKey | None: ...

    def is_retired(self, kid: str) -> bool:
        """A kid once published and since retired: its tokens get ``key_retired``."""
        ...


class AccessTokenVerifier:
    """Verifies access tokens against whatever key set ``keys()`` returns now.

    Split from the codec so that a service that only verifies (a resource server holding the
    JWKS) runs exactly the issuer's decode policy without holding a signing key.
    """

    def __init__(self, policy: AccessTokenPolicy, keys: Callable[[], VerifyingKeys]) -> None:
        self.policy = policy
        self._keys = keys

    def verify(self, token: str, now: float) -> AccessClaims:
        """Full verification; raises :class:`InvalidToken` or :class:`TokenExpired`."""
        policy = self.policy
        if len(token) > policy.max_token_bytes:
            raise InvalidToken("token is larger than this service accepts")
        if not token.isascii():  # a compact JWS is ASCII; a lone surrogate must not reach encode()
            raise InvalidToken("token is not a compact JWS")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("token is not a compact JWS")
        # One token, one spelling: no padding, no stray characters, no unused bits set. A
        # respelled payload or signature is answered like any other that does not verify.
        if not is_canonical_segment(parts[0]):
            raise InvalidToken("token header is not base64url")
        if not (is_canonical_segment(parts[1]) and is_canonical_segment(parts[2])):
            raise InvalidToken("token signature is invalid")
        try:
            header = strict_json_object(base64url_decode(parts[0].encode("ascii")))
        except (UnicodeEncodeError, ValueError) as error:
            raise InvalidToken("token header is not base64url") from error

        kid = header.get("kid")
        if type(kid) is not str:
            raise InvalidToken("token header has no usable kid")
        keys = self._keys()
        key = keys.get(kid)
        if key is None:
            if keys.is_retired(kid):
                raise KeyRetired()
            raise UnknownSigningKey()
        if header.get("alg") != key.alg:
            raise InvalidToken("token algorithm does not match its key")
        if "crit" in header or "b64" in header:
            raise InvalidToken("token uses critical header extensions this service refuses")
        typ = header.get("typ")
        if type(typ) is not str or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("token is not an access token (typ must be at+jwt)")

        if is_high_s(key.alg, parts[2]):  # (r, n - s) of a genuine (r, s): a second spelling
            raise InvalidToken("token signature is invalid")
        try:
            payload_bytes = key.jws.decode(token, key.verifying_key, algorithms=[key.alg])
        except PyJWTInvalidToken as error:
            raise InvalidToken("token signature is invalid") from error
        return parse_access_claims(
            payload_bytes,
            kid=kid,
            issuer=policy.issuer,
            audience=policy.audience,
            now=now,
            leeway=policy.leeway_seconds,
        )


class AccessTokenCodec(AccessTokenVerifier):
    """Mints and verifies access tokens against whatever key ring ``ring()`` returns now."""

    def __init__(self, policy: AccessTokenPolicy, ring: Callable[[], KeyRing]) -> None:
        super().__init__(policy, ring)
        self._ring = ring

    def issue(
        self,
        *,
        user_id: str,
        session_id: str,
        roles: Sequence[str],
        now: float,
        auth_time: float | None = None,
        expires_at: float | None = None,
        amr: Sequence[str] = (),
        idp: str | None = None,
        scope: Sequence[str] = (),
        client_id: str | None = None,
    ) -> tuple[str, AccessClaims]:
        """``scope``: the session's or client's scopes, sent as the RFC 9068 §2.2.3 ``scope``
        claim when there are any; ``client_id``: the OAuth client the token was issued to
        (default: this service's own first-party client)."""
        key = self._ring().active
        iat = int(now)
        exp = iat + self.policy.ttl_seconds
        if expires_at is not None:
            exp = min(exp, int(expires_at))  # never outlive the session
        claims = AccessClaims(
            iss=self.policy.issuer,
            aud=self.policy.audience,
            sub=user_id,
            sid=session_id,
            jti=secrets.token_urlsafe(16),
            iat=iat,
            exp=exp,
            roles=tuple(roles),
            client_id=client_id or self.policy.client_id,
            auth_time=int(auth_time) if auth_time is not None else None,
            kid=key.kid,
            scope=tuple(scope),
        )
        payload: dict[str, object] = {
            "iss": claims.iss,
            "aud": claims.aud,
            "sub": claims.sub,
            "sid": claims.sid,
            "jti": claims.jti,
            "iat": claims.iat,
            "exp": claims.exp,
            "client_id": claims.client_id,
            "roles": list(claims.roles),
        }
        if claims.auth_time is not None:
            payload["auth_time"] = claims.auth_time
        if amr:
            payload["amr"] = list(amr)  # RFC 8176, e.g. ["pwd"] or ["fed"]
        if idp is not None:
            payload["idp"] = idp
        if claims.scope:
            payload["scope"] = " ".join(claims.scope)
        token = key.jws.encode(
            json.dumps(payload, separators=(",", ":")).encode(),
            key.signing_key,
            algorithm=key.alg,
            headers={"kid": key.kid, "typ": "at+jwt"},
        )
        return low_s(key.alg, token), claims  # cryptography's ECDSA leaves s high half the time
