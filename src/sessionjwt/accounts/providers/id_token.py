"""Verifying what a provider signed: ID tokens (OpenID Connect Core §3.1.3.7) and back-channel
logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6), with PyJWT.

Only the provider's published asymmetric keys verify: ``alg: none`` and HS256 "signed" with
our client secret are refused before any key is looked at.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Any

import jwt

from sessionjwt.accounts.providers.metadata import ProviderMetadata
from sessionjwt.errors import InvalidIdToken

LEEWAY_S = 60
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_TOKEN_BYTES = 16 * 1024


async def verify_id_token(
    metadata: ProviderMetadata,
    token: str,
    *,
    audiences: Collection[str],
    nonce: str | None,
) -> dict[str, Any]:
    """The claims of a genuine ID token for one of ``audiences``, or :class:`InvalidIdToken`.

    ``nonce``: the value this sign-in sent; the token must carry exactly it."""
    claims = await _verify(metadata, token, audiences, required=("iss", "aud", "exp", "iat", "sub"))
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and "azp" not in claims:
        raise InvalidIdToken("An ID token for several audiences must name its azp.")
    if "azp" in claims and claims["azp"] not in audiences:
        raise InvalidIdToken("The ID token was issued to another client (azp).")
    if nonce is not None:
        presented = claims.get("nonce")
        if not isinstance(presented, str) or not hmac.compare_digest(presented, nonce):
            raise InvalidIdToken("The ID token does not answer this sign-in (nonce).")
    return claims


async def verify_logout_token(
    metadata: ProviderMetadata, token: str, *, audiences: Collection[str]
) -> dict[str, Any]:
    """The claims of a genuine back-channel logout token, or :class:`InvalidIdToken`."""
    claims = await _verify(metadata, token, audiences, required=("iss", "aud", "iat", "exp", "jti"))
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise InvalidIdToken("A logout token must carry the back-channel logout event.")
    if "nonce" in claims:
        raise InvalidIdToken("A logout token must not carry a nonce.")
    if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
        raise InvalidIdToken("A logout token must name a sub or a sid.")
    return claims


async def _verify(
    metadata: ProviderMetadata,
    token: str,
    audiences: Collection[str],
    *,
    required: tuple[str, ...],
) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidIdToken()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise InvalidIdToken() from error
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or (kid is not None and not isinstance(kid, str)):
        raise InvalidIdToken()
    key = await metadata.signing_key(kid, alg)  # refuses none/HS* before any lookup
    endpoints = await metadata.endpoints()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=list(audiences),
            leeway=LEEWAY_S,
            options={"require": list(required), "verify_iss": False},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidIdToken("The identity provider's token has expired.") from error
    except jwt.PyJWTError as error:
        raise InvalidIdToken() from error
    template = metadata.config.tenant_issuer_template
    if not _issuer_matches(str(claims["iss"]), endpoints.issuer, template, claims):
        raise InvalidIdToken("The token was issued by another provider (iss).")
    return claims


def _issuer_matches(
    issuer: str, expected: str | None, tenant_template: str | None, claims: dict[str, Any]
) -> bool:
    if tenant_template is not None:
        tenant = claims.get("tid")
        if not isinstance(tenant, str) or not tenant:
            return False
        return hmac.compare_digest(issuer, tenant_template.replace("{tenant}", tenant))
    return expected is not None and hmac.compare_digest(issuer, expected)
