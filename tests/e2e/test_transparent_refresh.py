"""An expired access cookie is renewed on the next page load without the person noticing:
the guard sends the browser to /auth/refresh, which rotates both cookies and sends it back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import NewContext
from tests.e2e.flows import at_path, devices, heading, sign_in, sign_up
from tests.e2e.harness import Service, running_service, unique_email
from tests.mail import Inbox

ACCESS_TOKEN_TTL_S = 2
ACCESS = "__Host-sjwt-access"
REFRESH = "__Secure-sjwt-refresh"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("e2e-refresh"),
        smtp[1],
        access_token_ttl=str(ACCESS_TOKEN_TTL_S),
        leeway="0",
    ) as running:
        yield running


def test_an_expired_access_cookie_is_renewed_on_the_next_page_load(
    new_context: NewContext,
) -> None:
    email = unique_email("refresh")
    context = new_context()
    page = context.new_page()
    sign_up(page, email, PASSWORD)
    sign_in(page, email, PASSWORD)

    before = {cookie["name"]: cookie for cookie in context.cookies()}
    access, refresh = before[ACCESS], before[REFRESH]
    assert (access["path"], access["httpOnly"], access["secure"]) == ("/", True, True)
    assert access["sameSite"] == "Lax"
    assert (refresh["path"], refresh["httpOnly"], refresh["secure"]) == (
        "/auth/refresh",
        True,
        True,
    )

    time.sleep(ACCESS_TOKEN_TTL_S + 1)
    response = page.goto("/devices")
    expect(page).to_have_url(at_path("/devices"))
    expect(heading(page)).to_have_text("Your devices")
    expect(devices(page)).to_have_count(1)

    assert response is not None
    hops = []
    request = response.request.redirected_from
    while request is not None:
        hops.append(request.url.split("?")[0].removeprefix(page.url.split("/devices")[0]))
        request = request.redirected_from
    assert "/auth/refresh" in hops, hops

    after = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
    assert after[ACCESS] != access["value"]
    assert after[REFRESH] != refresh["value"]
