"""Every page response carries the security headers, and every page keeps the contract's
accessibility basics: lang, title, one h1, a label for every input, no inline script or style."""

from __future__ import annotations

import re

import httpx

from sessionjwt import SessionJWT
from tests.pages.conftest import (
    BrowserFactory,
    assert_security_headers,
    principal_of,
    signed_in,
)

PUBLIC_PAGES = ["/signin", "/signup", "/password-reset", "/password-reset/confirm"]
SIGNED_IN_PAGES = ["/devices", "/security", "/reauth?next=/devices", "/manage/users"]


def assert_accessible_page(response: httpx.Response, title: str | None = None) -> None:
    text = response.text
    assert response.headers["content-type"].startswith("text/html")
    assert text.startswith('<!doctype html>\n<html lang="en">')
    found = re.search(r"<title>(.*?) · sessionjwt</title>", text)
    assert found, text
    if title is not None:
        assert found.group(1) == title
    assert text.count("<h1>") == 1
    inputs = re.findall(r'<input id="([^"]+)"', text)
    labels = re.findall(r'<label for="([^"]+)"', text)
    assert sorted(inputs) == sorted(labels)
    assert len(re.findall(r"<input", text)) == len(inputs) + text.count('type="hidden"')
    assert "<style" not in text and " style=" not in text
    scripts = re.findall(r"<script[^>]*>", text)
    assert all(
        re.fullmatch(r'<script src="/static/sessionjwt/[a-z]+\.js" defer>', s) for s in scripts
    )
    assert not re.search(r"\son[a-z]+=", text)  # no inline event handlers either


async def test_public_pages_carry_the_headers_and_the_basics(
    open_browser: BrowserFactory,
) -> None:
    browser = await open_browser("pytest")
    for path in PUBLIC_PAGES:
        response = await browser.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
        assert_accessible_page(response)
    signin = await browser.get("/signin")
    assert "<title>Sign in · sessionjwt</title>" in signin.text


async def test_signed_in_pages_carry_the_headers_and_the_nav(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    browser = await signed_in(auth, open_browser, "root@example.com", roles=("admin",))
    principal = await principal_of(auth, browser)
    for path in [*SIGNED_IN_PAGES, f"/manage/users/{principal.user_id}"]:
        response = await browser.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
        assert_accessible_page(response)
        assert '<a href="/devices"' in response.text and ">Your devices</a>" in response.text
        assert ">Security</a>" in response.text and ">Admin</a>" in response.text
        assert '<form method="post" action="/signout"' in response.text
        assert ">Sign out</button>" in response.text


async def test_redirects_errors_and_static_files_carry_the_headers_too(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    browser = await signed_in(auth, open_browser)
    responses = [
        await browser.get("/"),
        await browser.submit("/signin", {"email": "alice@example.com", "password": "wrong"}),
        await browser.submit("/signup", {"email": "x@example.com", "password": "p"}, csrf=None),
        await browser.submit("/signup", {"email": "x" * 400, "password": "p"}),
        await browser.get("/manage/users"),
        await browser.submit("/devices/no-such-session/revoke"),
        await browser.get("/static/sessionjwt/pages.css"),
        await browser.get("/static/sessionjwt/reset.js"),
    ]
    assert [r.status_code for r in responses] == [303, 401, 403, 422, 403, 404, 200, 200]
    for response in responses:
        assert_security_headers(response)
    for response in responses[1:6]:
        assert_accessible_page(response)
        assert 'role="alert"' in response.text


async def test_an_incomplete_form_is_an_error_page_not_json(
    open_browser: BrowserFactory,
) -> None:
    browser = await open_browser("pytest")
    response = await browser.submit("/signin", {"email": "a" * 5000, "password": "x"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "validation_error" not in response.text
