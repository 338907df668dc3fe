"""Browsers for the page tests: a cookie jar each, a real user agent, forms posted the way a
page posts them (hidden ``csrf_token`` from the cookie, ``Origin`` of the site).

Served over ``https://testserver`` so the ``__Host-``/``__Secure-`` cookies (Secure) are kept
and sent back by httpx's cookie jar, as a browser would.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from sessionjwt import SessionJWT
from sessionjwt.principal import Principal
from tests.conftest import PASSWORD
from tests.factors.conftest import authenticator  # noqa: F401 - the TOTP app, for page tests

ORIGIN = "https://testserver"
ACCESS = "__Host-sjwt-access"
REFRESH = "__Secure-sjwt-refresh"
CSRF = "__Host-sjwt-csrf"
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
}
# What a browser sends when it loads a page (the guard redirects such loads, never scripts).
NAVIGATION = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"}
_NOT_SENT = object()


@dataclass
class Browser:
    """One browser profile talking to the app."""

    http: httpx.AsyncClient
    user_agent: str

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"User-Agent": self.user_agent, **(extra or {})}

    async def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """Load a page, as the address bar or a link would."""
        return await self.http.get(url, headers=self._headers({**NAVIGATION, **(headers or {})}))

    async def lands_on(self, url: str, limit: int = 5) -> tuple[str, httpx.Response]:
        """Load ``url`` and follow redirects (cookies updated on the way): where it ends."""
        response = await self.get(url)
        while response.status_code in (302, 303, 307) and limit:
            url = response.headers["location"]
            response = await self.get(url)
            limit -= 1
        return url, response

    async def is_sent_to_sign_in(self, url: str = "/devices") -> bool:
        """The next page load of a browser whose session ended goes to sign-in."""
        landed, response = await self.lands_on(url)
        return landed.startswith("/signin") and response.status_code == 200

    async def csrf(self) -> str:
        """The form token the pages put in hidden fields (a page visit sets its cookie)."""
        if self.http.cookies.get(CSRF) is None:
            await self.get("/signin")
        token = self.http.cookies.get(CSRF)
        assert token
        return token

    async def submit(
        self,
        url: str,
        fields: dict[str, str] | None = None,
        *,
        csrf: object = _NOT_SENT,
        origin: str | None = ORIGIN,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a form; by default with the right token and this site's Origin."""
        data = dict(fields or {})
        token = await self.csrf()
        if csrf is _NOT_SENT:
            data["csrf_token"] = token
        elif csrf is not None:
            data["csrf_token"] = str(csrf)
        extra = dict(headers or {})
        if origin is not None:
            extra["Origin"] = origin
        return await self.http.post(url, data=data, headers=self._headers(extra))

    async def sign_in(
        self, email: str, password: str = PASSWORD, next: str | None = None
    ) -> httpx.Response:
        fields = {"email": email, "password": password}
        if next is not None:
            fields["next"] = next
        return await self.submit("/signin", fields)

    @property
    def access_token(self) -> str | None:
        return self.http.cookies.get(ACCESS)


BrowserFactory = Callable[[str], Awaitable[Browser]]


@pytest.fixture
async def open_browser(app: FastAPI) -> AsyncIterator[BrowserFactory]:
    async with AsyncExitStack() as stack:

        async def open_one(user_agent: str = CHROME_LINUX) -> Browser:
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=ORIGIN)
            )
            return Browser(http, user_agent)

        yield open_one


@pytest.fixture
async def browser(open_browser: BrowserFactory) -> Browser:
    return await open_browser(CHROME_LINUX)


async def signed_in(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    email: str = "alice@example.com",
    *,
    user_agent: str = CHROME_LINUX,
    roles: tuple[str, ...] = (),
    register: bool = True,
) -> Browser:
    """A browser that signed in through the sign-in page."""
    if register:
        await auth.register(email, PASSWORD, roles=roles)
    opened = await open_browser(user_agent)
    response = await opened.sign_in(email)
    assert response.status_code == 303, response.text
    return opened


async def principal_of(auth: SessionJWT, browser: Browser) -> Principal:
    assert browser.access_token
    return await auth.check(browser.access_token)


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)


def alert(response: httpx.Response) -> str:
    """The text of the page's role=alert element."""
    found = re.search(r'role="alert">([^<]*)<', response.text)
    assert found, response.text
    return html.unescape(found.group(1))


def status_notice(response: httpx.Response) -> str:
    found = re.search(r'role="status">([^<]*)<', response.text)
    assert found, response.text
    return html.unescape(found.group(1))


def device_ids(page: httpx.Response) -> list[str]:
    return re.findall(r'<li class="device[^"]*" data-session-id="([^"]+)"', page.text)
