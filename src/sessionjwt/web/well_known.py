"""What other services read to trust our tokens: the JWKS and the RFC 8414 metadata.

Both are public and cacheable. The JWKS holds every key a verifier may meet — the published
successor (``next``), the signer (``active``) and those still verifying (``retiring``) —
public halves only; HMAC keys are never published. Its ``max-age`` is a quarter of
``key_publish_ahead``, so a verifier that honours it has fetched a new key well before any
token is signed with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sessionjwt.web.public import public

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
INTROSPECTION_PATH = "/oauth/introspect"
REVOCATION_PATH = "/oauth/revoke"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path


# The OpenAPI description of the JWKS response, under the media type it is really served as.
_JWK_SET: dict[str, Any] = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
}


def jwks_max_age(auth: AuthCore) -> int:
    return max(0, int(auth.settings.key_publish_ahead.total_seconds() // 4))


def authorization_server_metadata(auth: AuthCore) -> dict[str, Any]:
    """RFC 8414 metadata; endpoints are absolute URLs under the issuer."""
    issuer = auth.settings.issuer
    base = issuer.rstrip("/")
    algorithms = sorted({key.alg for key in auth.key_ring() if key.public_jwk() is not None})
    return {
        "issuer": issuer,
        "jwks_uri": base + JWKS_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "introspection_endpoint": base + INTROSPECTION_PATH,
        "revocation_endpoint": base + REVOCATION_PATH,
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        # "none": the refresh grant of this service's own public client; the secrets: the
        # client-credentials grant of registered service clients.
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "response_types_supported": [],
        "access_token_signing_alg_values_supported": algorithms,
    }


def build_well_known_router(auth: AuthCore) -> APIRouter:
    router = APIRouter(tags=["discovery"])

    @router.get(
        JWKS_PATH,
        summary="Public signing keys (RFC 7517)",
        responses={200: {"content": {"application/jwk-set+json": {"schema": _JWK_SET}}}},
    )
    @public
    async def jwks() -> JSONResponse:
        await auth.start()
        return JSONResponse(
            auth.key_ring().public_jwks(),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": f"public, max-age={jwks_max_age(auth)}"},
        )

    @router.get(METADATA_PATH, summary="Authorization server metadata (RFC 8414)")
    @public
    async def metadata() -> JSONResponse:
        await auth.start()
        return JSONResponse(
            authorization_server_metadata(auth),
            headers={"Cache-Control": f"public, max-age={jwks_max_age(auth)}"},
        )

    return router
