"""Passkeys in a real browser: Debian's Chromium with its virtual authenticator (the DevTools
``WebAuthn`` domain, through Playwright's CDP session), on the real pages of the real
``sessionjwt serve``.

The authenticator is a platform one (CTAP2, internal transport) with resident keys and user
verification, as a laptop's. The browser — not test code — builds every ``clientDataJSON``,
origin and RP id hash, and the authenticator signs; so these tests prove the ceremonies as a
user meets them: add a passkey on the Security page, sign out, sign in with it alone, sign
in with the password and the passkey as the second step, confirm with it on /reauth, rename
and remove it; and a cloned credential (exported, then put back with its old counter after
the original signed in again) is refused and audited.

WebAuthn needs a secure context and a domain as RP id (an IP address cannot be one), so this
module's service is addressed as ``http://localhost:PORT`` (potentially trustworthy), with
``SESSIONJWT_ISSUER`` to match: the RP id is ``localhost`` and the origin the issuer's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import CDPSession, Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import NewContext
from tests.e2e.flows import (
    at_path,
    button,
    heading,
    navigate_by,
    sign_in,
    sign_up,
    status,
    submit_sign_in,
)
from tests.e2e.harness import SESSIONJWT, Service, save_screenshot, service_env, unique_email
from tests.mail import free_port

ADDED = "Passkey added. You can now sign in with it alone."
RENAMED = "Passkey renamed."
REMOVED = "Passkey removed."
CLONED = "This passkey reported an older signature count than before"


class LocalhostService(Service):
    """``sessionjwt serve`` on 127.0.0.1, addressed (and issuing) as ``http://localhost:PORT``."""

    def __init__(self, data_dir: Path, smtp_port: int, **overrides: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        issuer = f"http://localhost:{self.port}"
        self.env = service_env(data_dir, self.port, smtp_port, issuer=issuer, **overrides)
        self.log_path = data_dir / "serve.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(SESSIONJWT), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.port}"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, smtp: tuple[object, int]
) -> Iterator[Service]:
    """This module's own service (the conftest's is addressed by IP)."""
    running = LocalhostService(tmp_path_factory.mktemp("e2e-passkeys"), smtp[1])
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


class VirtualAuthenticator:
    """Chromium's virtual authenticator on one page (it lives as long as the page)."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        added = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        self.id: str = added["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        credentials: list[dict[str, Any]] = found["credentials"]
        return credentials

    def remove(self, credential_id: str) -> None:
        self.cdp.send(
            "WebAuthn.removeCredential",
            {"authenticatorId": self.id, "credentialId": credential_id},
        )

    def add(self, credential: dict[str, Any]) -> None:
        self.cdp.send(
            "WebAuthn.addCredential", {"authenticatorId": self.id, "credential": credential}
        )


def passkey_account(new_context: NewContext, label: str) -> tuple[str, Page, VirtualAuthenticator]:
    """A new account, signed in on a device with a platform authenticator."""
    email = unique_email(label)
    page = new_context().new_page()
    authenticator = VirtualAuthenticator(page)
    sign_up(page, email, PASSWORD)
    sign_in(page, email, PASSWORD)
    return email, page, authenticator


def add_passkey(page: Page, name: str) -> None:
    """On the Security page, freshly signed in: add a passkey; the first one shows the
    recovery codes once, then the page says it was added."""
    page.goto("/security")
    page.get_by_label("Passkey name", exact=True).fill(name)
    button(page, "Add a passkey").click()
    codes = page.locator("#passkey-recovery-codes li")
    expect(codes).to_have_count(10)
    navigate_by(page, lambda: page.get_by_role("link", name="I have saved them").click())
    expect(status(page)).to_contain_text(ADDED)
    expect(page.locator("#passkeys .passkey-name")).to_have_text([name])


def sign_out(page: Page) -> None:
    navigate_by(page, lambda: button(page, "Sign out").click())
    expect(heading(page)).to_have_text("Sign in")


def sign_in_with_passkey(page: Page) -> None:
    page.goto("/signin")
    with page.expect_navigation():
        button(page, "Sign in with a passkey").click()
    expect(page).to_have_url(at_path("/devices"))


def current_amr(page: Page) -> list[str]:
    """How this browser's session signed in, as ``GET /auth/sessions`` says (its cookies)."""
    sessions = page.context.request.get("/auth/sessions")
    assert sessions.ok, sessions.text()
    (current,) = [entry for entry in sessions.json() if entry["current"]]
    methods: list[str] = current["amr"]
    return methods


def audit(service: Service, email: str, event: str) -> list[dict[str, Any]]:
    printed = service.cli("audit", "--user", email, "--event", event, "--json").stdout
    return [json.loads(line) for line in printed.splitlines() if line.strip()]


def test_a_passkey_added_on_the_security_page_signs_in_alone_and_as_the_second_step(
    new_context: NewContext, service: Service
) -> None:
    email, page, authenticator = passkey_account(new_context, "passkey")
    add_passkey(page, "This laptop")
    (credential,) = authenticator.credentials()
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"
    save_screenshot(page, "security-passkeys.png")

    # Signed out, the passkey alone signs in: a two-factor session (device + screen lock).
    sign_out(page)
    sign_in_with_passkey(page)
    assert current_amr(page) == ["hwk", "user", "mfa"]

    # The password now leads to the second step, which the passkey completes.
    sign_out(page)
    page.goto("/signin")
    submit_sign_in(page, email, PASSWORD)
    expect(page).to_have_url(at_path("/signin/second-factor"))
    with page.expect_navigation():
        button(page, "Use a passkey").click()
    expect(page).to_have_url(at_path("/devices"))
    assert current_amr(page) == ["pwd", "hwk", "mfa"]

    # /reauth offers the passkey too (step-up), then back where it was asked from.
    page.goto("/reauth?next=/security")
    with page.expect_navigation():
        button(page, "Use a passkey").click()
    expect(page).to_have_url(at_path("/security"))
    # Newest first: this step-up, then the one adding the passkey made (another session).
    stepped = audit(service, email, "stepped_up")
    assert [e["detail"]["amr"] for e in stepped] == ["pwd hwk mfa", "pwd hwk mfa"]
    assert stepped[0]["session_id"] != stepped[1]["session_id"]

    # Rename it, then remove it: the password alone signs in again.
    page.get_by_label("New name for This laptop", exact=True).fill("Old laptop")
    navigate_by(page, lambda: button(page, "Rename").click())
    expect(status(page)).to_contain_text(RENAMED)
    navigate_by(page, lambda: button(page, "Remove Old laptop").click())
    expect(status(page)).to_contain_text(REMOVED)
    expect(page.locator("#no-passkeys")).to_be_visible()
    sign_out(page)
    sign_in(page, email, PASSWORD)


def test_a_cloned_passkey_whose_counter_went_back_is_refused_and_audited(
    new_context: NewContext, service: Service
) -> None:
    email, page, authenticator = passkey_account(new_context, "clone")
    add_passkey(page, "Phone")
    (exported,) = authenticator.credentials()  # the copy, with the counter of that moment

    # The original signs in again: the server's stored counter moves past the copy's.
    sign_out(page)
    sign_in_with_passkey(page)
    (original,) = authenticator.credentials()
    assert original["signCount"] > exported["signCount"]

    # The copy is put in its place and tried.
    sign_out(page)
    authenticator.remove(original["credentialId"])
    authenticator.add(exported)
    page.goto("/signin")
    button(page, "Sign in with a passkey").click()
    refused = page.locator("#passkey-error")
    expect(refused).to_contain_text(CLONED)
    expect(refused).to_have_attribute("data-error", "passkey_counter_regressed")
    assert page.url.endswith("/signin"), page.url
    (event,) = audit(service, email, "passkey_counter_regressed")
    assert event["detail"]["stored_count"] == original["signCount"]
    assert event["detail"]["presented_count"] <= original["signCount"]
    # No session was made: the browser holds no access cookie that works.
    assert page.context.request.get("/auth/me").status == 401


def test_the_passkey_pages_refuse_another_sites_requests(service: Service) -> None:
    """The cookie-setting JSON routes check CSRF like every form: a cross-site request (an
    attacker's page replaying a ceremony answer) is refused before anything is verified."""
    with httpx.Client(base_url=service.base_url, trust_env=False) as http:
        answer = http.post(
            "/signin/passkey",
            json={"challenge_token": "x", "credential": {}},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
    assert (answer.status_code, answer.json()["error"]) == (403, "csrf_failed")
