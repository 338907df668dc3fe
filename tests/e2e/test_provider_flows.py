"""Sign-in with an identity provider in Debian's Chromium: the real ``sessionjwt serve``,
configured only by ``SESSIONJWT_PROVIDERS``, and the local OpenID Provider's own login page
(``tests/providers/node/op.mjs``), both on 127.0.0.1. A person clicks "Sign in with Local OP",
signs in at the provider and lands on their devices; another connects the provider from the
Security page and disconnects it.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import NewContext
from tests.e2e.flows import (
    SIGNED_OUT,
    at_path,
    button,
    devices,
    heading,
    is_sent_to_sign_in,
    navigate_by,
    open_devices,
    sign_in,
    sign_up,
    status,
    this_device,
)
from tests.e2e.harness import Service, running_service, save_screenshot, unique_email
from tests.mail import Inbox
from tests.providers.conftest import local_op, local_op_config  # noqa: F401 - the OP fixtures
from tests.providers.op import LocalOP

CLIENT_ID = "sessionjwt-e2e"
CONNECTED = "Connected accounts"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
    smtp: tuple[Inbox, int],
    local_op: LocalOP,  # noqa: F811 - the fixture imported above
) -> Iterator[Service]:
    """``sessionjwt serve`` with the local OP as provider ``op``; the OP knows our real
    callback URL (it matches redirect URIs exactly, as a real one must)."""
    secret = secrets.token_urlsafe(32)
    provider = {
        "name": "op",
        "display_name": "Local OP",
        "issuer": local_op.issuer,
        "client_id": CLIENT_ID,
        "client_secret": secret,
    }
    with running_service(
        tmp_path_factory.mktemp("e2e-providers"), smtp[1], providers=json.dumps([provider])
    ) as running:
        register = local_op.configure_client(
            CLIENT_ID,
            client_secret=secret,
            redirect_uris=[running.url("/auth/providers/op/callback")],
        )
        # Its own thread and event loop: Playwright's sync API owns this thread's.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, register).result()
        yield running


def at_the_provider(page: Page, op: LocalOP) -> None:
    """The OP's login page is showing (its own page, on its own origin)."""
    expect(page).to_have_url(re.compile(rf"^{re.escape(op.issuer)}/interaction/"))
    expect(heading(page)).to_have_text(f"Sign in to {CLIENT_ID}")


def test_a_person_signs_in_with_the_provider_and_out_again(
    new_context: NewContext,
    service: Service,
    local_op: LocalOP,  # noqa: F811 - the fixture imported above
) -> None:
    page = new_context().new_page()
    page.goto("/signin")
    page.get_by_role("link", name="Sign in with Local OP", exact=True).click()
    at_the_provider(page, local_op)
    button(page, "Sign in as alice").click()

    expect(page).to_have_url(at_path("/devices"))
    expect(heading(page)).to_have_text("Your devices")
    expect(devices(page)).to_have_count(1)
    expect(this_device(page)).to_have_count(1)
    page.goto("/security")
    expect(page.get_by_text("op (alice@example.com)")).to_be_visible()
    save_screenshot(page, "provider-security.png")

    open_devices(page)
    navigate_by(page, lambda: button(page, "Sign out").click())
    expect(page).to_have_url(at_path("/signin"))
    expect(status(page)).to_contain_text(SIGNED_OUT)
    is_sent_to_sign_in(page)


def test_a_person_connects_the_provider_from_the_security_page_and_disconnects_it(
    new_context: NewContext,
    service: Service,
    local_op: LocalOP,  # noqa: F811 - the fixture imported above
) -> None:
    email = unique_email("connect")
    page = new_context().new_page()
    sign_up(page, email, PASSWORD)
    sign_in(page, email, PASSWORD)
    page.goto("/security")
    connected = page.get_by_role("region", name=CONNECTED)
    expect(connected).to_contain_text("No identity provider is connected")

    button(connected, "Connect Local OP").click()
    at_the_provider(page, local_op)
    button(page, "Sign in as bob").click()  # linking asks no verified address: it is you
    expect(page).to_have_url(at_path("/security"))
    expect(connected.get_by_role("listitem")).to_have_text(re.compile(r"op \(bob@example\.com\)"))

    navigate_by(page, lambda: button(connected, "Disconnect").click())
    expect(page).to_have_url(at_path("/security"))
    expect(connected).to_contain_text("No identity provider is connected")
    open_devices(page)  # disconnecting ends no session
    expect(this_device(page)).to_have_count(1)
