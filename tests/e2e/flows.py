"""What a person does on the pages, step by step, with the labels and button texts of the page
contract (/work/notes/contract.md, mirrored in docs); every step waits for what the page shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Locator, Page, expect

REGISTERED = "Account created. Sign in to continue."
SIGNED_OUT = "You are signed out."
RESET_DONE = "Password changed. Sign in with your new password."
PASSWORD_CHANGED = "Password changed. Your other devices were signed out."
RESET_SENT = "If an account exists for this address, a password-reset link is on its way to it."
BAD_CREDENTIALS = "The email or password is incorrect."
USER_DISABLED = "Account disabled. Its sessions have ended."
CROSS_SITE_REFUSED = "Cross-site request refused"
BAD_RESET_LINK = "This reset link is invalid or has expired."
THIS_DEVICE = "This device"


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def at_path(path: str) -> re.Pattern[str]:
    """A URL pattern for ``expect(page).to_have_url``: this path, any query."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def button(page: Page | Locator, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def heading(page: Page) -> Locator:
    return page.locator("h1")


def status(page: Page) -> Locator:
    return page.get_by_role("status")


def alert(page: Page) -> Locator:
    return page.get_by_role("alert")


def sign_up(page: Page, email: str, password: str) -> None:
    page.goto("/signup")
    expect(heading(page)).to_be_visible()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    button(page, "Create account").click()
    expect(page).to_have_url(at_path("/signin"))
    assert query_of(page).get("registered") == ["1"], page.url
    expect(status(page)).to_contain_text(REGISTERED)


def submit_sign_in(page: Page, email: str, password: str) -> None:
    """Fill and send the sign-in form of the page currently open."""
    expect(heading(page)).to_have_text("Sign in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    button(page, "Sign in").click()


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in from /signin and land on the devices page."""
    page.goto("/signin")
    submit_sign_in(page, email, password)
    expect(page).to_have_url(at_path("/devices"))
    expect(heading(page)).to_have_text("Your devices")


def sign_in_is_refused(page: Page, email: str, password: str, why: str = BAD_CREDENTIALS) -> None:
    page.goto("/signin")
    submit_sign_in(page, email, password)
    expect(alert(page)).to_contain_text(why)
    assert path_of(page) == "/signin", page.url


def devices(page: Page) -> Locator:
    return page.locator("ul.devices li.device")


def this_device(page: Page) -> Locator:
    """The caller's own device: the one with the words "This device" (exactly; the others'
    buttons say "Sign out this device")."""
    return devices(page).filter(has=page.get_by_text(THIS_DEVICE, exact=True))


def other_devices(page: Page) -> Locator:
    return devices(page).filter(has_not=page.get_by_text(THIS_DEVICE, exact=True))


def open_devices(page: Page) -> None:
    page.goto("/devices")
    expect(page).to_have_url(at_path("/devices"))
    expect(heading(page)).to_have_text("Your devices")


def is_sent_to_sign_in(page: Page, path: str = "/devices") -> None:
    """The next load of ``path`` ends on the sign-in page (the session is gone)."""
    page.goto(path)
    expect(page).to_have_url(at_path("/signin"))
    expect(heading(page)).to_have_text("Sign in")
    assert path_of(page) == "/signin", page.url


def navigate_by(page: Page, act: Callable[[], None]) -> None:
    """Do ``act`` (a click that submits a form) and wait for the page it leads to."""
    with page.expect_navigation():
        act()


def with_fresh_auth(page: Page, password: str, act: Callable[[], None]) -> None:
    """Do ``act`` (a form submit); if the page asks to confirm the password first (/reauth),
    confirm it and, once back where it was, do ``act`` again."""
    navigate_by(page, act)
    if path_of(page) == "/reauth":
        page.get_by_label("Password", exact=True).fill(password)
        navigate_by(page, lambda: button(page, "Confirm").click())
        assert path_of(page) != "/reauth", page.url
        navigate_by(page, act)
