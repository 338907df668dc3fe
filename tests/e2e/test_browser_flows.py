"""Issue 6, "Done when": what a person notices in a real browser, against the real service.

Every context is one device (its own cookie jar). The pages, labels and notices are those of the
page contract; each test uses its own account, so one server serves the whole module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Response, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import Account, NewContext
from tests.e2e.flows import (
    BAD_CREDENTIALS,
    BAD_RESET_LINK,
    CROSS_SITE_REFUSED,
    PASSWORD_CHANGED,
    RESET_DONE,
    RESET_SENT,
    THIS_DEVICE,
    USER_DISABLED,
    alert,
    at_path,
    button,
    devices,
    heading,
    is_sent_to_sign_in,
    navigate_by,
    open_devices,
    other_devices,
    query_of,
    sign_in,
    sign_in_is_refused,
    sign_up,
    status,
    this_device,
    with_fresh_auth,
)
from tests.e2e.harness import HostileSite, Service, hostile_site, save_screenshot, unique_email
from tests.mail import Inbox

NEW_PASSWORD = "a brand new passphrase 42"
ACCESS_COOKIE = "__Host-sjwt-access"
PUBLIC_FORMS = frozenset({"/signout"})  # @public: they check their own CSRF (contract)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@pytest.fixture(scope="module")
def attacker() -> Iterator[HostileSite]:
    with hostile_site() as site:
        yield site


def signed_in_device(new_context: NewContext, email: str, password: str = PASSWORD) -> Page:
    page = new_context().new_page()
    sign_in(page, email, password)
    return page


def new_account(new_context: NewContext, label: str) -> tuple[str, Page]:
    """Sign up, then sign in: the account's email and its first device, on /devices."""
    email = unique_email(label)
    page = new_context().new_page()
    sign_up(page, email, PASSWORD)
    sign_in(page, email, PASSWORD)
    return email, page


# -- devices -----------------------------------------------------------------------------------


def test_signing_out_another_device_sends_it_to_sign_in_on_its_next_page_load(
    new_context: NewContext,
) -> None:
    email, laptop = new_account(new_context, "devices")
    expect(devices(laptop)).to_have_count(1)
    expect(this_device(laptop)).to_have_count(1)

    phone = signed_in_device(new_context, email)
    phone_session = this_device(phone).get_attribute("data-session-id")

    open_devices(laptop)
    expect(devices(laptop)).to_have_count(2)
    expect(this_device(laptop)).to_have_count(1)
    expect(laptop.get_by_text(THIS_DEVICE, exact=True)).to_have_count(1)
    other = other_devices(laptop)
    expect(other).to_have_count(1)
    expect(other.locator("h2")).to_have_text(re.compile(r"\S+ \d+ on \S+"))
    assert other.get_attribute("data-session-id") == phone_session
    expect(button(this_device(laptop), "Sign out this device")).to_have_count(0)
    save_screenshot(laptop, "devices.png")

    navigate_by(laptop, lambda: button(other, "Sign out this device").click())
    expect(laptop).to_have_url(at_path("/devices"))
    expect(status(laptop)).to_contain_text("Signed out ")
    expect(devices(laptop)).to_have_count(1)
    expect(this_device(laptop)).to_have_count(1)

    is_sent_to_sign_in(phone)
    assert query_of(phone).get("next") == ["/devices"], phone.url
    open_devices(laptop)  # the device that acted is still signed in
    expect(devices(laptop)).to_have_count(1)


# -- password change and reset ----------------------------------------------------------------


def test_changing_the_password_signs_out_the_other_device_and_retires_the_old_one(
    new_context: NewContext,
) -> None:
    email, laptop = new_account(new_context, "change")
    phone = signed_in_device(new_context, email)

    laptop.goto("/security")
    expect(heading(laptop)).to_have_text("Security")

    def change() -> None:
        laptop.get_by_label("Current password", exact=True).fill(PASSWORD)
        laptop.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        button(laptop, "Change password").click()

    with_fresh_auth(laptop, PASSWORD, change)
    expect(laptop).to_have_url(at_path("/security"))
    assert query_of(laptop).get("changed") == ["1"], laptop.url
    expect(status(laptop)).to_contain_text(PASSWORD_CHANGED)

    is_sent_to_sign_in(phone)
    open_devices(laptop)
    expect(devices(laptop)).to_have_count(1)

    sign_in_is_refused(new_context().new_page(), email, PASSWORD)
    signed_in_device(new_context, email, NEW_PASSWORD)


def test_the_mailed_reset_link_sets_a_new_password_once(
    new_context: NewContext, inbox: Inbox
) -> None:
    email, laptop = new_account(new_context, "reset")

    visitor = new_context().new_page()
    visitor.goto("/password-reset")
    visitor.get_by_label("Email", exact=True).fill(email)
    navigate_by(visitor, lambda: button(visitor, "Send reset link").click())
    expect(status(visitor)).to_contain_text(RESET_SENT)

    inbox.wait_for(email)
    token = inbox.token_for(email)
    link = inbox.link.search(inbox.text_for(email))
    assert link is not None
    reset_link = link.group(0)
    assert reset_link.endswith(f"/password-reset/confirm#token={token}")

    visitor.goto(reset_link)
    expect(visitor.get_by_label("Reset code", exact=True)).to_have_value(token)
    visitor.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    navigate_by(visitor, lambda: button(visitor, "Set new password").click())
    expect(visitor).to_have_url(at_path("/signin"))
    assert query_of(visitor).get("reset") == ["1"], visitor.url
    expect(status(visitor)).to_contain_text(RESET_DONE)

    is_sent_to_sign_in(laptop)  # a reset ends every session
    sign_in_is_refused(new_context().new_page(), email, PASSWORD)
    signed_in_device(new_context, email, NEW_PASSWORD)

    again = new_context().new_page()
    again.goto(reset_link)
    expect(again.get_by_label("Reset code", exact=True)).to_have_value(token)
    again.get_by_label("New password", exact=True).fill("yet another passphrase 7")
    with again.expect_response(
        lambda r: r.request.method == "POST" and "/password-reset/confirm" in r.url
    ) as refused:
        button(again, "Set new password").click()
    assert refused.value.status == 400
    expect(alert(again)).to_contain_text(BAD_RESET_LINK)
    signed_in_device(new_context, email, NEW_PASSWORD)


# -- cross-site request forgery ---------------------------------------------------------------


def forged_post(page: Page, attacker: HostileSite, host: str, target: str) -> Response:
    """Visit the attacker's page, which posts a form to ``target`` on load; the response."""
    path = f"/prize-{len(attacker.pages)}"
    attacker.auto_submit(path, target, {"csrf_token": "guessed"})
    with page.expect_response(lambda r: r.request.method == "POST" and r.url == target) as answered:
        page.goto(attacker.url(host, path))
    return answered.value


def assert_refused_as_cross_site(response: Response, target: str) -> None:
    """403 either way (contract, lead decision 1): protected routes by the guard, as JSON
    ``csrf_failed``; public page forms (/signout) by the page itself, as the HTML error page."""
    assert response.status == 403, (response.status, response.text()[:300])
    if target in PUBLIC_FORMS:
        assert response.headers["content-type"].startswith("text/html")
        assert CROSS_SITE_REFUSED in response.text()
    else:
        assert response.json()["error"] == "csrf_failed"


@pytest.mark.parametrize("target", ["/devices/revoke-others", "/signout"])
def test_a_forged_post_from_a_same_site_origin_carries_the_cookies_and_is_refused(
    new_context: NewContext, service: Service, attacker: HostileSite, target: str
) -> None:
    email, victim = new_account(new_context, "csrf-same-site")
    signed_in_device(new_context, email)

    response = forged_post(victim, attacker, "127.0.0.1", service.url(target))
    cookie = response.request.all_headers().get("cookie", "")
    assert ACCESS_COOKIE in cookie, "same-site: cookies ignore ports, so they are sent"
    assert_refused_as_cross_site(response, target)

    open_devices(victim)
    expect(devices(victim)).to_have_count(2)


@pytest.mark.parametrize("target", ["/devices/revoke-others", "/signout"])
def test_a_forged_post_from_another_site_goes_without_the_cookies(
    new_context: NewContext, service: Service, attacker: HostileSite, target: str
) -> None:
    email, victim = new_account(new_context, "csrf-cross-site")
    signed_in_device(new_context, email)

    response = forged_post(victim, attacker, "localhost", service.url(target))
    assert "sjwt-" not in response.request.all_headers().get("cookie", "")
    assert not 200 <= response.status < 300, response.status

    open_devices(victim)
    expect(devices(victim)).to_have_count(2)


# -- admin -------------------------------------------------------------------------------------


def test_an_admin_disables_a_user_whose_open_page_stops_working(
    new_context: NewContext, admin: Account
) -> None:
    email, user_page = new_account(new_context, "disabled")

    console = signed_in_device(new_context, admin.email, admin.password)
    expect(console.get_by_role("link", name="Admin", exact=True)).to_be_visible()
    console.goto("/manage/users")
    expect(heading(console)).to_have_text("Users")
    console.get_by_label("Find a user by email", exact=True).fill(email)
    navigate_by(console, lambda: button(console, "Search").click())
    navigate_by(console, lambda: console.get_by_role("link", name=email, exact=True).click())
    expect(heading(console)).to_have_text(email)
    user_url = console.url
    expect(console.get_by_role("main")).to_contain_text("Active")

    with_fresh_auth(console, admin.password, lambda: button(console, "Disable account").click())
    expect(heading(console)).to_have_text(email)
    expect(status(console)).to_contain_text(USER_DISABLED)
    assert console.url.startswith(user_url), console.url
    expect(console.get_by_role("main")).to_contain_text("Disabled")
    expect(button(console, "Enable account")).to_be_visible()
    save_screenshot(console, "admin.png")

    is_sent_to_sign_in(user_page)
    # Even with the right password the page does not confirm the account is disabled: it
    # answers as for a wrong one (docs/security.md, issue 18 item 2).
    sign_in_is_refused(new_context().new_page(), email, PASSWORD, BAD_CREDENTIALS)


def test_a_non_admin_is_shown_the_door_of_the_admin_pages(new_context: NewContext) -> None:
    _, page = new_account(new_context, "not-admin")
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    response = page.goto("/manage/users")
    assert response is not None and response.status == 403
    expect(page.get_by_text("You need the admin role to see this page.")).to_be_visible()


# -- headers -----------------------------------------------------------------------------------


def test_the_sign_in_page_carries_the_csp_and_cannot_be_framed(
    new_context: NewContext, service: Service, attacker: HostileSite
) -> None:
    page = new_context().new_page()
    response = page.goto("/signin")
    assert response is not None and response.status == 200
    headers = response.headers
    assert headers["content-security-policy"] == CSP
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["cross-origin-opener-policy"] == "same-origin"

    attacker.pages["/frame"] = (
        f'<!doctype html><iframe name="victim" src="{service.url("/signin")}"></iframe>'
    )
    page.goto(attacker.url("127.0.0.1", "/frame"))
    page.wait_for_load_state("load")
    framed = page.frame(name="victim")
    assert framed is not None
    assert framed.url != service.url("/signin"), "the sign-in page loaded inside a frame"
    assert framed.locator("form").count() == 0, "the sign-in form rendered inside a frame"
