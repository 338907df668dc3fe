"""The harness itself: the real service answers Chromium, the CLI reaches its data, and its
reset mail arrives at the local SMTP server. If these fail, no browser flow can pass."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext

from tests.conftest import PASSWORD
from tests.e2e.conftest import Account, NewContext
from tests.e2e.harness import Service, running_service, unique_email
from tests.mail import Inbox


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[Service]:
    # An explicit link: the harness must work before the pages bring the default one.
    link = "http://127.0.0.1:1/password-reset/confirm#token={token}"
    with running_service(
        tmp_path_factory.mktemp("e2e-harness"), smtp[1], password_reset_url=link
    ) as running:
        yield running


def test_chromium_reaches_the_service(service: Service, new_context: NewContext) -> None:
    context: BrowserContext = new_context()
    page = context.new_page()
    response = page.goto("/healthz")
    assert response is not None and response.status == 200
    assert json.loads(page.inner_text("body")) == {"status": "ok"}
    assert "HeadlessChrome" in page.evaluate("navigator.userAgent")


def test_the_cli_creates_the_admin_in_the_service_database(
    service: Service, admin: Account
) -> None:
    listed = service.cli("users", "list", "--limit", "1000").stdout
    [row] = [line for line in listed.splitlines() if admin.email in line]
    assert "admin" in row
    login = httpx.post(
        service.url("/auth/login"),
        json={"email": admin.email, "password": admin.password},
        trust_env=False,
    )
    assert login.status_code == 200, login.text


def test_a_reset_request_mails_the_link_to_the_local_smtp_server(
    service: Service, inbox: Inbox
) -> None:
    address = unique_email("smoke")
    with httpx.Client(base_url=service.base_url, trust_env=False) as http:
        created = http.post("/auth/register", json={"email": address, "password": PASSWORD})
        assert created.status_code == 201, created.text
        accepted = http.post("/auth/password-reset", json={"email": address})
        assert accepted.status_code == 202, accepted.text
        nobody = http.post("/auth/password-reset", json={"email": unique_email("nobody")})
        assert nobody.status_code == 202
    inbox.wait_for(address)
    assert len(inbox.token_for(address)) >= 32
    assert [to for to, _ in inbox.messages if to != [address]] == []
