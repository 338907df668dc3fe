"""E-mail verification and e-mail change through the pages, with mail read back from a real
local SMTP server. No link URLs are configured: the service mails links to its own pages."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionjwt import SessionJWT, Settings
from tests.conftest import ISSUER, PASSWORD, make_settings
from tests.mail import Inbox, smtp_server, smtp_settings
from tests.pages.conftest import BrowserFactory, alert, signed_in, status_notice

VERIFY_LINK = re.compile(re.escape(ISSUER) + r"(/verify-email)#token=([A-Za-z0-9_-]+)")
CHANGE_LINK = re.compile(re.escape(ISSUER) + r"(/security/email/confirm\?token=[A-Za-z0-9_-]+)")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(VERIFY_LINK)
    with smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object], smtp: tuple[Inbox, int]) -> Settings:
    return make_settings(
        tmp_path,
        **backend,
        **smtp_settings(smtp[1]),
        email_verification="required",
    )


async def mail_sent(auth: SessionJWT) -> None:
    await asyncio.gather(*auth.components.outbox.under_way)


async def test_sign_up_says_check_your_mail_and_the_link_confirms_once(
    auth: SessionJWT, open_browser: BrowserFactory, inbox: Inbox
) -> None:
    browser = await open_browser("signup-browser")
    await auth.register("bob@example.com", PASSWORD, verified=True)
    landings = []
    for address in ("carol@example.com", "bob@example.com"):
        sent = await browser.submit("/signup", {"email": address, "password": PASSWORD})
        assert sent.status_code == 303
        landings.append(sent.headers["location"])
        page = await browser.get(sent.headers["location"])
        assert page.status_code == 200 and "<h1>Check your mail</h1>" in page.text
    assert landings[0] == landings[1] == "/verify-email/sent"
    await mail_sent(auth)

    refused = await browser.sign_in("carol@example.com")
    assert refused.status_code == 403
    assert "Confirm your email address first" in alert(refused)
    assert 'action="/verify-email/resend"' in refused.text

    found = VERIFY_LINK.search(inbox.text_for("carol@example.com"))
    assert found
    path, token = found.groups()
    form = await browser.get(path)
    assert '<script src="/static/sessionjwt/reset.js" defer></script>' in form.text
    assert 'action="/verify-email"' in form.text
    done = await browser.submit("/verify-email", {"token": token})
    assert done.status_code == 303
    assert status_notice(await browser.get(done.headers["location"])).startswith("Email address")
    again = await browser.submit("/verify-email", {"token": token})
    assert again.status_code == 400 and "invalid or has expired" in alert(again)
    assert (await browser.sign_in("carol@example.com")).status_code == 303


async def test_the_verification_form_needs_the_csrf_token(
    auth: SessionJWT, open_browser: BrowserFactory, inbox: Inbox
) -> None:
    browser = await open_browser("signup-browser")
    await browser.submit("/signup", {"email": "carol@example.com", "password": PASSWORD})
    await mail_sent(auth)
    found = VERIFY_LINK.search(inbox.text_for("carol@example.com"))
    assert found
    forged = await browser.submit("/verify-email", {"token": found.group(2)}, csrf="forged")
    assert forged.status_code == 403
    user = await auth.users.require_by_email("carol@example.com")
    assert not user.email_verified


async def test_resend_form_answers_the_same_and_mails_a_new_link(
    auth: SessionJWT, open_browser: BrowserFactory, inbox: Inbox
) -> None:
    browser = await open_browser("resend-browser")
    await auth.register("carol@example.com", PASSWORD)
    for address in ("carol@example.com", "nobody@example.com"):
        response = await browser.submit("/verify-email/resend", {"email": address})
        assert response.headers["location"] == "/verify-email/resend?sent=1"
    await mail_sent(auth)
    assert VERIFY_LINK.search(inbox.text_for("carol@example.com"))
    assert inbox.mails_to("nobody@example.com") == []


async def test_email_change_on_the_security_page(
    auth: SessionJWT, open_browser: BrowserFactory, inbox: Inbox
) -> None:
    await auth.register("alice@example.com", PASSWORD, verified=True)
    here = await signed_in(auth, open_browser, register=False)
    there = await signed_in(auth, open_browser, register=False, user_agent="other-device/1")
    page = await here.get("/security")
    assert 'action="/security/email"' in page.text
    wrong = await here.submit(
        "/security/email", {"new_email": "alice@new.example", "email_password": "not it at all"}
    )
    assert wrong.status_code == 401
    asked = await here.submit(
        "/security/email", {"new_email": "alice@new.example", "email_password": PASSWORD}
    )
    assert asked.headers["location"] == "/security?email_sent=1"
    await mail_sent(auth)
    assert "alice@new.example" in inbox.text_for("alice@example.com")
    found = CHANGE_LINK.search(inbox.text_for("alice@new.example"))
    assert found
    form = await here.get(found.group(1))
    token = re.search(r'name="token" type="text" value="([^"]+)"', form.text)
    assert token
    done = await here.submit("/security/email/confirm", {"token": token.group(1)})
    assert done.headers["location"] == "/security?email_changed=1"
    changed = await here.get(done.headers["location"])
    assert "Signed in as <strong>alice@new.example</strong>" in changed.text
    assert await there.is_sent_to_sign_in()
