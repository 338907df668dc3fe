"""Fixtures for the browser tests: real headless Chromium against a real ``sessionjwt serve``.

- ``browser``: Debian's ``chromium`` (``executable_path``; nothing is ever downloaded), one for
  every E2E test (package scope, so it is gone before the rest of the suite runs). Missing:
  skipped loudly (the summary says so); with ``CI=true`` a failure.
- ``smtp``: an aiosmtpd server on a free 127.0.0.1 port, per module, keeping every mail.
- ``service``: ``sessionjwt serve`` on a free port, per module, mailing through ``smtp``; its
  log is attached to the report of any test that fails. Tests use unique emails, so one
  server serves the whole module.
- ``admin``: an ``admin`` account made with ``sessionjwt users create --role admin``.
- ``new_context``: a fresh browser context (its own cookie jar: another device) on ``service``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, ViewportSize, sync_playwright

from tests.conftest import PASSWORD, _require
from tests.e2e.harness import Service, chromium_path, running_service, unique_email
from tests.mail import Inbox, smtp_server

PAGE_TIMEOUT_MS = 10_000
VIEWPORT: ViewportSize = {"width": 1100, "height": 760}
# The default link of the service when the pages are on (docs: contract, "Password-reset mail").
RESET_LINK = re.compile(r"http://127\.0\.0\.1:\d+/password-reset/confirm#token=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    path = chromium_path()
    _require(None if path else "chromium is not installed (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), args=["--no-sandbox"], headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(RESET_LINK)
    with smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture(scope="module")
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("e2e-service"), smtp[1]) as running:
        yield running


@dataclass(frozen=True)
class Account:
    email: str
    password: str


@pytest.fixture(scope="module")
def admin(service: Service) -> Account:
    account = Account(unique_email("admin"), PASSWORD)
    service.create_user(account.email, account.password, "admin")
    return account


NewContext = Callable[..., BrowserContext]


def contexts_on(browser: Browser, service: Service) -> Generator[NewContext]:
    opened: list[BrowserContext] = []

    def new_context(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=service.base_url, viewport=VIEWPORT, **options)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
        opened.append(context)
        return context

    yield new_context
    for context in opened:
        context.close()


@pytest.fixture
def new_context(browser: Browser, service: Service) -> Iterator[NewContext]:
    yield from contexts_on(browser, service)


# -- a failing test shows what the server said -------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs: dict[str, object] = getattr(item, "funcargs", {})
        for name, value in funcargs.items():
            if isinstance(value, Service):
                lines = value.log_text().splitlines()[-200:]
                report.sections.append((f"sessionjwt serve log ({name})", "\n".join(lines)))
    return report
