"""One error envelope everywhere: the framework's own refusals (a body it cannot parse, an
unknown path, a wrong method, any ``HTTPException``) answer ``{"error": code, "message":
text}`` like sessionjwt's, never FastAPI's ``{"detail": ...}``, and never echo the request.

The bodies are the exact bytes an attacker sends; each carries ``MARKER`` so that an echo of
the input, anywhere in the answer, is caught."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from sessionjwt import SessionJWT, public
from tests.conftest import bearer, register_and_login

MARKER = "ATTACKER-MARKER"
M = MARKER.encode()
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# Past the JSON parser's recursion limit (1000), within the service's 16 KiB body limit.
DEEP = 2_500

# (id, body, content type, status, error code)
HOSTILE_JSON_BODIES = [
    pytest.param(
        b'{"email":"v\x00@example.com","password":"\xff\xfe' + M + b'"}',
        JSON,
        id="nul-and-non-utf8",
    ),
    pytest.param(b'{"email":"' + M + b'\xc0\xaf@example.com","password":"x"}', JSON, id="overlong"),
    pytest.param(b'{"email":"' + M + b'@example.com","password":', JSON, id="truncated"),
    pytest.param(b'["' + M + b'", "x"]', JSON, id="array-not-object"),
    pytest.param(b'"' + M + b'"', JSON, id="string-not-object"),
    pytest.param(b"[" * DEEP + M + b"]" * DEEP, JSON, id="deep-array-nesting"),
    pytest.param(
        b'{"email":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}", JSON, id="deep-objects"
    ),
    pytest.param(
        b'{"email":"' + M + b'@example.com","password":"x"}', "text/plain", id="text-plain"
    ),
    pytest.param(b"email=" + M + b"&password=x", FORM, id="form-not-json"),
    pytest.param(b"--x\r\n" + M, "multipart/form-data", id="broken-multipart"),
]


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "detail" not in body
    assert MARKER not in response.text
    assert MARKER.lower() not in response.text.lower()
    return body


def assert_unparseable(response: httpx.Response) -> None:
    """The documented answer for "not a body": 422 ``validation_error`` against ``body``."""
    body = assert_envelope(response, 422, "validation_error")
    assert [field["field"] for field in body["fields"]] == ["body"]


@pytest.mark.parametrize(("content", "content_type"), HOSTILE_JSON_BODIES)
async def test_hostile_bodies_at_the_json_endpoints_get_the_envelope(
    client: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    for path in ("/auth/login", "/auth/register"):
        headers = {"Content-Type": content_type}
        assert_unparseable(await client.post(path, content=content, headers=headers))


async def test_the_curl_from_the_issue_is_a_validation_error_not_detail(
    client: httpx.AsyncClient,
) -> None:
    """``printf '{"email":"v\\x00@example.com","password":"\\xff\\xfe"}' | curl ...``"""
    response = await client.post(
        "/auth/login",
        content=b'{"email":"v\x00@example.com","password":"\xff\xfe"}',
        headers={"Content-Type": JSON},
    )
    assert_unparseable(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"token=\xff\xfe" + M, FORM, id="non-utf8-form"),
        pytest.param(b'{"token":"' + M, JSON, id="truncated-json"),
        pytest.param(b'["' + M + b'"]', JSON, id="json-array"),
        pytest.param(b"[" * DEEP + M, JSON, id="deep-nesting"),
        pytest.param(b"token=" + M, "text/plain", id="text-plain"),
        pytest.param(b"--x\r\n" + M, "multipart/form-data", id="broken-multipart"),
    ],
)
async def test_hostile_bodies_at_introspection_are_invalid_request(
    client: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    """The OAuth endpoints keep the RFC 6749 §5.2 shape (``error_description``), no ``detail``."""
    response = await client.post(
        "/oauth/introspect", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "detail" not in body
    assert MARKER not in response.text


async def test_a_broken_multipart_form_post_to_the_pages_gets_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    """The pages parse their forms before the CSRF check can read the token: a form that
    cannot be parsed is refused as a body, in the envelope (not an HTML page, not ``detail``)."""
    headers = {"Content-Type": "multipart/form-data", "Origin": "http://testserver"}
    for path in ("/signin", "/signup", "/password-reset"):
        assert_unparseable(await client.post(path, content=b"--x\r\n" + M, headers=headers))


async def test_unknown_path_and_wrong_method_for_a_signed_in_caller(
    client: httpx.AsyncClient,
) -> None:
    token = (await register_and_login(client))["access_token"]

    missing = await client.get(f"/{MARKER}/nowhere", headers=bearer(token))
    assert_envelope(missing, 404, "not_found")

    wrong = await client.put("/auth/login", headers=bearer(token))
    assert_envelope(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "POST"

    deleted = await client.delete("/healthz", headers=bearer(token))
    assert_envelope(deleted, 405, "method_not_allowed")
    assert deleted.headers["allow"] == "GET"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/healthz")])
async def test_an_anonymous_caller_still_meets_the_guard_first(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """Unknown path or wrong method, anonymous: the same 401 as any closed route, so the
    answer tells nothing about which routes exist."""
    response = await client.request(method, path)
    assert_envelope(response, 401, "missing_token")


# -- a user's own app, protected by auth.protect(app) ---------------------------------------


class Order(BaseModel):
    item: str


@pytest.fixture
async def user_client(auth: SessionJWT) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(auth.router(), prefix="/auth")

    @app.post("/orders")
    @public
    async def create_order(order: Order) -> dict[str, str]:
        return {"item": order.item}

    @app.get("/orders/{number}")
    async def get_order(number: int) -> dict[str, int]:
        raise HTTPException(404, f"No order {number}")

    @app.post("/orders/{number}/close")
    async def close_order(number: int) -> None:
        raise HTTPException(409)

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418)

    auth.protect(app)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_protect_gives_a_user_app_the_same_envelope(
    user_client: httpx.AsyncClient,
) -> None:
    async with user_client as http:
        unparseable = await http.post(
            "/orders", content=b'{"item":"\xff' + M + b'"}', headers={"Content-Type": JSON}
        )
        assert_unparseable(unparseable)
        deep = await http.post("/orders", content=b"[" * DEEP, headers={"Content-Type": JSON})
        assert_unparseable(deep)

        token = (await register_and_login(http))["access_token"]
        assert_envelope(await http.get("/nowhere", headers=bearer(token)), 404, "not_found")
        wrong = await http.delete("/orders", headers=bearer(token))
        assert_envelope(wrong, 405, "method_not_allowed")
        assert wrong.headers["allow"] == "POST"

        # The application's own HTTPException: its words kept, its status given a code.
        own = await http.get("/orders/7", headers=bearer(token))
        assert own.status_code == 404
        assert own.json() == {"error": "not_found", "message": "No order 7"}
        closed = await http.post("/orders/7/close", headers=bearer(token))
        assert_envelope(closed, 409, "conflict")
        teapot = await http.get("/teapot", headers=bearer(token))
        assert_envelope(teapot, 418, "http_error")
