"""The access token's claims as a typed value, and the strict parsing that produces it.

Parsing happens only after the signature has been verified. Types are checked exactly
(``exp`` an int, never a bool, a string or 1e30; ``sub``/``sid`` non-empty strings), duplicate
JSON keys are refused, and times are judged against the injected clock with a small leeway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sessionjwt.errors import InvalidToken, TokenExpired

MAX_NUMERIC_DATE = 2**41  # year ~71700; anything larger is an attack, not a date
MAX_ID_LENGTH = 128
MAX_SCOPE_TEXT = 1024


@dataclass(frozen=True, slots=True)
class AccessClaims:
    iss: str
    aud: str
    sub: str
    sid: str
    jti: str
    iat: int
    exp: int
    roles: tuple[str, ...]
    client_id: str
    auth_time: int | None
    kid: str
    scope: tuple[str, ...] = ()  # RFC 9068 §2.2.3, from the space-separated ``scope`` claim


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidToken(f"duplicate JSON member {key!r} in token")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise InvalidToken(f"non-standard JSON constant {name} in token")


def strict_json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidToken("token segment is not UTF-8 JSON") from error
    if not isinstance(value, dict):
        raise InvalidToken("token segment is not a JSON object")
    return value


def _numeric_date(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_NUMERIC_DATE:
        raise InvalidToken(f"claim {name!r} must be an integer NumericDate")
    return value


def _required_date(payload: dict[str, Any], name: str) -> int:
    value = _numeric_date(payload, name)
    if value is None:
        raise InvalidToken(f"claim {name!r} is required")
    return value


def _identifier(payload: dict[str, Any], name: str) -> str:
    """``sub``, ``sid`` and ``jti``: ids this service minted, so printable ASCII. Anything
    else (a lone surrogate from ``"\\ud800"``, control characters) never reaches the store."""
    value = payload.get(name)
    if (
        type(value) is not str
        or not value
        or len(value) > MAX_ID_LENGTH
        or not (value.isascii() and value.isprintable())
    ):
        raise InvalidToken(f"claim {name!r} must be a non-empty string of printable ASCII")
    return value


def parse_access_claims(
    payload_bytes: bytes,
    *,
    kid: str,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
) -> AccessClaims:
    payload = strict_json_object(payload_bytes)
    exp = _required_date(payload, "exp")
    iat = _required_date(payload, "iat")
    nbf = _numeric_date(payload, "nbf")
    auth_time = _numeric_date(payload, "auth_time")

    if payload.get("iss") != issuer:
        raise InvalidToken("token issuer is not this service")
    aud = payload.get("aud")
    audiences = aud if type(aud) is list else [aud]
    if not all(type(item) is str for item in audiences) or audience not in audiences:
        raise InvalidToken("token audience is not this service")

    roles = payload.get("roles", [])
    if type(roles) is not list or not all(type(role) is str for role in roles):
        raise InvalidToken("claim 'roles' must be a list of strings")
    client_id = payload.get("client_id", "")
    if type(client_id) is not str:
        raise InvalidToken("claim 'client_id' must be a string")
    scope = payload.get("scope", "")
    if type(scope) is not str or len(scope) > MAX_SCOPE_TEXT:
        raise InvalidToken("claim 'scope' must be a space-separated string")

    claims = AccessClaims(
        iss=issuer,
        aud=audience,
        sub=_identifier(payload, "sub"),
        sid=_identifier(payload, "sid"),
        jti=_identifier(payload, "jti"),
        iat=iat,
        exp=exp,
        roles=tuple(roles),
        client_id=client_id,
        auth_time=auth_time,
        kid=kid,
        scope=tuple(scope.split()),
    )
    if iat > now + leeway:
        raise InvalidToken("token was issued in the future")
    if nbf is not None and nbf > now + leeway:
        raise InvalidToken("token is not yet valid")
    if now >= exp + leeway:
        raise TokenExpired()
    return claims
