"""Password reset through the pages, with the mail read back from a real local SMTP server.

No ``password_reset_url`` is configured: the service mails a link to its own confirm page,
the token in the fragment.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sessionjwt import SessionJWT, Settings
from tests.conftest import ISSUER, PASSWORD, make_settings
from tests.mail import smtp_settings
from tests.pages.conftest import (
    Browser,
    BrowserFactory,
    alert,
    principal_of,
    signed_in,
    status_notice,
)
from tests.test_password_reset import Inbox, mail_sent, smtp  # noqa: F401 - fixture

NEW_PASSWORD = "a brand new passphrase 42"
SENT = "If an account exists for this address, a password-reset link is on its way to it."
LINK = re.compile(re.escape(ISSUER) + r"(/password-reset/confirm)#token=([A-Za-z0-9_-]+)")


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object], smtp: tuple[Inbox, int]) -> Settings:  # noqa: F811
    return make_settings(
        tmp_path,
        **backend,
        **smtp_settings(smtp[1]),
    )


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:  # noqa: F811
    return smtp[0]


def mailed_link(inbox: Inbox, address: str) -> tuple[str, str]:
    mails = [message for to, message in inbox.messages if address in to]
    assert mails, f"no mail for {address}"
    body = mails[-1].get_body(("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(1), found.group(2)


async def request_reset(browser: Browser, address: str) -> None:
    form = await browser.get("/password-reset")
    assert '<label for="email">Email</label>' in form.text
    assert ">Send reset link</button>" in form.text
    response = await browser.submit("/password-reset", {"email": address})
    assert response.status_code == 303
    page = await browser.get(response.headers["location"])
    assert status_notice(page) == SENT


async def test_the_mailed_link_opens_the_confirm_page_and_works_once(
    auth: SessionJWT, open_browser: BrowserFactory, inbox: Inbox
) -> None:
    signed = await signed_in(auth, open_browser)
    principal = await principal_of(auth, signed)
    browser = await open_browser("reset-browser")
    await request_reset(browser, "alice@example.com")
    await mail_sent(auth)
    path, token = mailed_link(inbox, "alice@example.com")

    page = await browser.get(path)
    assert page.status_code == 200
    assert '<script src="/static/sessionjwt/reset.js" defer></script>' in page.text
    assert '<label for="token">Reset code</label>' in page.text
    assert '<label for="new_password">New password</label>' in page.text
    assert ">Set new password</button>" in page.text
    assert token not in page.text

    done = await browser.submit(
        "/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/signin?reset=1"
    assert await auth.list_sessions(principal.user_id) == []
    await auth.authenticate("alice@example.com", NEW_PASSWORD)

    again = await browser.submit(
        "/password-reset/confirm", {"token": token, "new_password": "yet another passphrase 7"}
    )
    assert again.status_code == 400
    assert alert(again) == "This reset link is invalid or has expired."
    await auth.authenticate("alice@example.com", NEW_PASSWORD)


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    auth: SessionJWT, browser: Browser, inbox: Inbox
) -> None:
    await request_reset(browser, "nobody@example.com")
    await mail_sent(auth)
    assert inbox.messages == []


async def test_a_made_up_code_is_refused_and_a_weak_password_keeps_the_code(
    auth: SessionJWT, browser: Browser, inbox: Inbox
) -> None:
    await auth.register("alice@example.com", PASSWORD)
    made_up = await browser.submit(
        "/password-reset/confirm", {"token": "x" * 43, "new_password": NEW_PASSWORD}
    )
    assert made_up.status_code == 400
    assert alert(made_up) == "This reset link is invalid or has expired."

    await request_reset(browser, "alice@example.com")
    await mail_sent(auth)
    _, token = mailed_link(inbox, "alice@example.com")
    weak = await browser.submit("/password-reset/confirm", {"token": token, "new_password": "x"})
    assert weak.status_code == 422
    assert f'value="{token}"' in weak.text  # the user fixes the password, not the code
    ok = await browser.submit(
        "/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert ok.status_code == 303


async def test_the_script_moves_the_fragment_into_the_field_and_drops_it(
    browser: Browser,
) -> None:
    script = await browser.get("/static/sessionjwt/reset.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert 'getElementById("token")' in script.text
    assert "history.replaceState" in script.text


def test_an_explicit_reset_url_wins_and_no_pages_means_no_default(tmp_path: Path) -> None:
    own = make_settings(tmp_path, password_reset_url="https://app.example.test/r#t={token}")
    assert own.resolved_password_reset_url == "https://app.example.test/r#t={token}"
    default = make_settings(tmp_path)
    assert default.resolved_password_reset_url == (
        f"{ISSUER}/password-reset/confirm#token={{token}}"
    )
    assert make_settings(tmp_path, pages_enabled=False).resolved_password_reset_url is None
