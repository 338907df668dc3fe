"""``POST /oauth/token`` (RFC 6749 §4.4 client credentials, §6 refresh), ``POST
/oauth/introspect`` (RFC 7662) and ``POST /oauth/revoke`` (RFC 7009).

All take ``application/x-www-form-urlencoded`` bodies and answer errors in the RFC 6749 §5.2
shape ``{"error": code, "error_description": text}``, not the ``{"error", "message"}`` of
``/auth``: OAuth client libraries parse that shape. Both are :func:`public` as far as the
bearer guard goes, because they authenticate *clients* themselves (HTTP Basic, i.e.
``client_secret_basic``, or ``client_id``/``client_secret`` in the body, i.e.
``client_secret_post``; never both). Every answer carries ``Cache-Control: no-store``.

The body is parsed here rather than by FastAPI's ``Form`` so that the RFC rules hold exactly:
a repeated parameter is ``invalid_request``, an empty one counts as absent (RFC 6749 §3.1),
and the body is read only up to a bound.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sessionjwt.errors import (
    AuthenticationError,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    RateLimited,
    SessionJWTError,
    UnsupportedGrantType,
)
from sessionjwt.web.binding import web_of
from sessionjwt.web.public import public
from sessionjwt.web.well_known import INTROSPECTION_PATH, REVOCATION_PATH, TOKEN_PATH

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore

FORM_TYPE = "application/x-www-form-urlencoded"
FORM_HEADROOM = 4096  # room for the other parameters around a token of the largest size
MAX_FIELDS = 16
KNOWN_PARAMETERS = frozenset(
    {
        "token",
        "token_type_hint",
        "client_id",
        "client_secret",
        "grant_type",
        "scope",
        "refresh_token",
    }
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = 'Basic realm="sessionjwt", charset="UTF-8"'

Credentials = tuple[str, str]


def oauth_error_response(error: SessionJWTError) -> Response:
    """RFC 6749 §5.2 body; ``WWW-Authenticate: Basic`` on 401, ``Retry-After`` on 429/503."""
    headers = dict(NO_STORE)
    if isinstance(error, InvalidClient):
        headers["WWW-Authenticate"] = BASIC_CHALLENGE
    elif isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(
        {"error": error.code, "error_description": error.message},
        status_code=error.status,
        headers=headers,
    )


async def read_form(request: Request, max_bytes: int) -> dict[str, str]:
    """The urlencoded body as a dict; :class:`InvalidRequest` for anything else."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE:
        raise InvalidRequest(f"The body must be {FORM_TYPE}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise InvalidRequest("The request body is too large.")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidRequest("The body is not a valid form.") from error
    form: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            shown = name if name in KNOWN_PARAMETERS else "a parameter"
            raise InvalidRequest(f"The request repeats {shown}.")
        seen.add(name)
        if value:  # RFC 6749 §3.1: a parameter sent without a value is treated as omitted
            form[name] = value
    return form


def client_credentials(request: Request, form: dict[str, str]) -> Credentials | None:
    """(client_id, secret) from HTTP Basic or the body; None when no secret was presented.

    A bare ``client_id`` in the body is a public client naming itself; the service decides
    whether that name is acceptable."""
    header = request.headers.get("authorization")
    if header is None:
        if "client_secret" not in form:
            return None
        if "client_id" not in form:
            raise InvalidClient()
        return form["client_id"], form["client_secret"]
    if "client_secret" in form:
        raise InvalidRequest("Use one client authentication method, not two.")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("Only HTTP Basic client authentication is accepted here.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as error:
        raise InvalidClient() from error
    raw_id, colon, raw_secret = decoded.partition(":")
    if not colon:
        raise InvalidClient()
    # RFC 6749 §2.3.1: both halves are form-urlencoded before they are joined and encoded.
    client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if form.get("client_id", client_id) != client_id:
        raise InvalidClient()
    return client_id, secret


def required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise InvalidRequest(f"The {name} parameter is required.")
    return value


def _form_body(description: str) -> dict[str, Any]:
    """OpenAPI for a body FastAPI does not parse itself (see the module docstring)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                FORM_TYPE: {
                    "schema": {
                        "type": "object",
                        "required": ["token"],
                        "properties": {
                            "token": {"type": "string"},
                            "token_type_hint": {
                                "type": "string",
                                "description": "access_token or refresh_token; ignored: the "
                                "token's shape tells them apart",
                            },
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                    }
                }
            },
        }
    }


_OAUTH_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "error_description": {"type": "string"},
                },
            }
        }
    }
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "invalid_request: not a form, a missing or repeated parameter.",
        401: "invalid_client: client authentication failed (WWW-Authenticate: Basic).",
        429: "rate_limited: too many calls from this IP; see Retry-After.",
        503: "store_unavailable: liveness cannot be decided now; retry (Retry-After).",
    }
    return {status: {**_OAUTH_ERROR, "description": meaning[status]} for status in statuses}


_TOKEN_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "grant_type=client_credentials (client credentials in Basic or the "
        "body) with an optional scope, or grant_type=refresh_token with refresh_token.",
        "content": {
            FORM_TYPE: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {
                            "type": "string",
                            "enum": ["client_credentials", "refresh_token"],
                        },
                        "scope": {"type": "string"},
                        "refresh_token": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                    },
                }
            }
        },
    }
}

_TOKEN_ERRORS = {
    400: {
        **_OAUTH_ERROR,
        "description": "invalid_request, unsupported_grant_type, unauthorized_client (not "
        "registered for client credentials), invalid_scope, invalid_grant (refresh token "
        "unknown, expired, revoked or reused).",
    },
    **_errors(401, 429, 503),
}


async def token_answer(auth: AuthCore, request: Request, form: dict[str, str]) -> dict[str, Any]:
    """The RFC 6749 §5.1 body for one grant; raises the §5.2 refusal."""
    client = web_of(auth).dependencies.client(request)
    grant_type = required(form, "grant_type")
    credentials = client_credentials(request, form)
    if grant_type == "client_credentials":
        if credentials is None:
            raise InvalidClient("Client authentication is required.")
        issued = await auth.client_token(
            client_id=credentials[0],
            client_secret=credentials[1],
            scope=form.get("scope"),
            client=client,
        )
        answer: dict[str, Any] = {
            "access_token": issued.access_token,
            "token_type": issued.token_type,
            "expires_in": issued.expires_in,
        }
        if issued.scope:
            answer["scope"] = " ".join(issued.scope)
        return answer
    if grant_type == "refresh_token":
        # The first-party public client (auth "none"): a secret, or another client's id,
        # has no business here.
        named = credentials[0] if credentials else form.get("client_id")
        if credentials is not None or named not in (None, auth.settings.client_id):
            raise InvalidClient("The refresh grant is for this service's own public client.")
        if "scope" in form:
            raise InvalidRequest("A refresh keeps the session's scopes; omit scope.")
        try:
            pair = await auth.refresh(required(form, "refresh_token"), client)
        except AuthenticationError as error:
            raise InvalidGrant(error.message) from error
        answer = {
            "access_token": pair.access_token,
            "token_type": pair.token_type,
            "expires_in": pair.expires_in,
            "refresh_token": pair.refresh_token,
        }
        if pair.scope:
            answer["scope"] = pair.scope
        return answer
    raise UnsupportedGrantType()


def build_oauth_router(auth: AuthCore) -> APIRouter:
    router = APIRouter(tags=["oauth"])
    deps = web_of(auth).dependencies
    max_bytes = auth.settings.max_token_bytes + FORM_HEADROOM

    @router.post(
        TOKEN_PATH,
        summary="Token endpoint: client credentials (RFC 6749 §4.4) and refresh (§6)",
        response_model=None,
        openapi_extra=_TOKEN_FORM,
        responses={
            200: {
                "description": "access_token, token_type, expires_in, scope; a refresh "
                "also returns the rotated refresh_token."
            },
            **_TOKEN_ERRORS,
        },
    )
    @public
    async def token(request: Request) -> Response:
        try:
            answer = await token_answer(auth, request, await read_form(request, max_bytes))
        except SessionJWTError as error:
            return oauth_error_response(error)
        return JSONResponse(answer, headers=NO_STORE)

    @router.post(
        INTROSPECTION_PATH,
        summary="Token introspection (RFC 7662), for registered resource servers",
        response_model=None,
        openapi_extra=_form_body("The token to look at; client credentials unless in Basic."),
        responses={
            200: {"description": 'The live token\'s claims, or exactly `{"active": false}`.'},
            **_errors(400, 401, 429, 503),
        },
    )
    @public
    async def introspect(request: Request) -> Response:
        client = deps.client(request)
        try:
            form = await read_form(request, max_bytes)
            credentials = client_credentials(request, form)
            if credentials is None:
                raise InvalidClient("Client authentication is required.")
            token = required(form, "token")
            answer = await auth.introspect(
                token, client_id=credentials[0], client_secret=credentials[1], client=client
            )
        except SessionJWTError as error:
            return oauth_error_response(error)
        return JSONResponse(answer, headers=NO_STORE)

    @router.post(
        REVOCATION_PATH,
        summary="Token revocation (RFC 7009): ends the session behind the token",
        response_model=None,
        response_class=Response,  # the 200 has an empty body, not application/json
        openapi_extra=_form_body("The token to revoke; client credentials are optional."),
        responses={
            200: {"description": "Revoked, or nothing to revoke (unknown or invalid token)."},
            **_errors(400, 401, 429, 503),
        },
    )
    @public
    async def revoke(request: Request) -> Response:
        client = deps.client(request)
        try:
            form = await read_form(request, max_bytes)
            credentials = client_credentials(request, form)
            token = required(form, "token")
            await auth.revoke_token(
                token,
                client_id=credentials[0] if credentials else form.get("client_id"),
                client_secret=credentials[1] if credentials else None,
                client=client,
            )
        except SessionJWTError as error:
            return oauth_error_response(error)
        return Response(status_code=200, headers=NO_STORE)

    return router
