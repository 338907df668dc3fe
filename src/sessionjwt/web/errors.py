"""The framework's own refusals in sessionjwt's envelope ``{"error": code, "message": text}``.

FastAPI and Starlette answer a body they cannot parse, an unknown path and a wrong method with
``{"detail": ...}``. :func:`install_http_error_handlers` (run by ``protect(app)``) renders
every Starlette :class:`~starlette.exceptions.HTTPException` instead, whoever raised it:

* a body that cannot be parsed (not UTF-8, nesting too deep for the JSON parser, a broken
  multipart form) is ``422 validation_error`` against the field ``body``, exactly like the
  truncated JSON FastAPI already reports as a validation error: one answer for "not a body";
* 404 ``not_found``, 405 ``method_not_allowed`` (the ``Allow`` header kept), 413
  ``body_too_large``, and the other statuses by :data:`CODES`.

The message never echoes the request. It is the exception's ``detail`` only when an
application raised its own text (``HTTPException(404, "No such order")``).

The default-deny guard runs first: an unauthenticated request to an unknown path is still
refused 401 before routing, so these answers reveal no more about which routes exist.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

#: The ``error`` code of an ``HTTPException`` by status; any other status is ``http_error``.
CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "The request is not allowed."),
    404: ("not_found", "No such resource."),
    405: ("method_not_allowed", "That method is not allowed here; see the Allow header."),
    406: ("not_acceptable", "No acceptable representation."),
    409: ("conflict", "The request conflicts with the current state."),
    413: ("body_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "That content type is not accepted here."),
    429: ("rate_limited", "Too many requests; retry later."),
    500: ("internal_error", "Internal error."),
    503: ("service_unavailable", "The service is unavailable; retry shortly."),
}
FALLBACK = ("http_error", "The request was refused.")
#: What FastAPI raises when reading the body fails other than as JSON syntax (not UTF-8, a
#: ``RecursionError`` from deep nesting, a body stream error).
FASTAPI_PARSE_DETAIL = "There was an error parsing the body"
UNPARSEABLE_BODY = "The request body could not be parsed."


def is_body_parse_failure(error: HTTPException) -> bool:
    if error.status_code != 400:
        return False
    if error.detail == FASTAPI_PARSE_DETAIL:
        return True
    # Starlette turns a broken multipart form into ``HTTPException(400, <parser message>)``.
    return isinstance(error.__context__, MultiPartException)


def unparseable_body() -> Response:
    """The validation-error answer for a body that is not one (same shape as a field error)."""
    return JSONResponse(
        {
            "error": "validation_error",
            "message": "Invalid request: body",
            "fields": [{"field": "body", "message": UNPARSEABLE_BODY}],
        },
        status_code=422,
        headers={"Cache-Control": "no-store"},
    )


def http_error_response(error: HTTPException) -> Response:
    if is_body_parse_failure(error):
        return unparseable_body()
    headers = {**(error.headers or {}), "Cache-Control": "no-store"}
    if error.status_code in (204, 304):  # no body allowed
        return Response(status_code=error.status_code, headers=headers)
    code, message = CODES.get(error.status_code, FALLBACK)
    detail: Any = error.detail
    if isinstance(detail, str) and detail and detail != _phrase(error.status_code):
        message = detail  # the application's own words, not the framework's default
    return JSONResponse(
        {"error": code, "message": message}, status_code=error.status_code, headers=headers
    )


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def install_http_error_handlers(app: FastAPI) -> None:
    async def on_http_exception(_request: Request, error: Exception) -> Response:
        if not isinstance(error, HTTPException):
            raise error
        return http_error_response(error)

    app.add_exception_handler(HTTPException, on_http_exception)
