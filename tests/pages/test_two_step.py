"""Two-step sign-in from the pages, as a person with a phone would use it: set up an
authenticator app on the Security page (QR code, typed key, first code), keep the recovery
codes shown once, sign in with a code, confirm it is you with a code instead of the password,
remove the app, make new codes; the devices page says how each session signed in.

Every code comes from Node's otplib (``tests/factors/conftest.py``), reading the key the page
shows exactly as an app does when the user types it in instead of scanning.
"""

from __future__ import annotations

import re

import httpx

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.client import ClientInfo
from sessionjwt.sessions.issue import Federation
from tests.conftest import PASSWORD, bearer
from tests.factors.conftest import AuthenticatorApp
from tests.pages.conftest import (
    CHROME_LINUX,
    FIREFOX_WINDOWS,
    Browser,
    BrowserFactory,
    alert,
    principal_of,
    signed_in,
    status_notice,
)

EMAIL = "alice@example.com"
CODE_FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{6}(-[0-9A-HJKMNP-TV-Z]{6}){3}$")
WRONG_CODE = "The code is incorrect, expired or was already used."


def typed_key(page: httpx.Response) -> str:
    """What an app makes of the key typed from the page: defaults for all but the secret."""
    found = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text)
    assert found, page.text
    return f"otpauth://totp/sessionjwt:{EMAIL}?secret={found.group(1)}"


def shown_codes(page: httpx.Response) -> list[str]:
    return re.findall(r"<li><code>([^<]+)</code></li>", page.text)


def card(page: httpx.Response) -> str:
    found = re.search(
        r'<section class="card" aria-labelledby="two-step">(.*?)</section>', page.text, re.S
    )
    assert found, page.text
    return found.group(1)


async def enrol(
    browser: Browser, authenticator: AuthenticatorApp, clock: ManualClock
) -> tuple[str, list[str]]:
    """Security page → set up → first code: the app's key and the recovery codes shown."""
    started = await browser.submit("/security/totp")
    assert (started.status_code, started.headers["location"]) == (303, "/security/totp")
    uri = typed_key(await browser.get("/security/totp"))
    done = await browser.submit(
        "/security/totp/confirm", {"code": authenticator.code(uri, clock.now())}
    )
    assert done.status_code == 200, done.text
    clock.advance(30)  # the app shows a new code from now on
    return uri, shown_codes(done)


async def go_stale(auth: SessionJWT, clock: ManualClock, browser: Browser) -> None:
    """Past the fresh-proof window; the browser loads a page meanwhile (renewing its access
    cookie, as any page load does), so only the proof is old."""
    clock.advance(auth.settings.fresh_auth_window.total_seconds() + 60)
    landed, _ = await browser.lands_on("/security")
    assert landed == "/security"


async def test_setting_up_an_authenticator_app_from_the_security_page(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    chrome = await signed_in(auth, open_browser)
    firefox = await signed_in(auth, open_browser, user_agent=FIREFOX_WINDOWS, register=False)
    mine = await principal_of(auth, chrome)

    before = card(await chrome.get("/security"))
    assert '<dd id="totp-status">Off</dd>' in before
    assert ">Set up an authenticator app</button>" in before
    assert "Recovery codes left" not in before and "Make new recovery codes" not in before

    started = await chrome.submit("/security/totp")
    assert (started.status_code, started.headers["location"]) == (303, "/security/totp")
    page = await chrome.get("/security/totp")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "<h1>Set up an authenticator app</h1>" in page.text
    qr = re.search(r'<div class="qr" id="totp-qr">(.*?)</div>', page.text, re.S)
    assert qr and qr.group(1).lstrip().startswith("<svg")
    # The SVG is ours: a fixed title and modules; the address is in the modules, not text.
    assert "<title>QR code for your authenticator app</title>" in qr.group(1)
    for absent in ("alice", "%40", "<script", "<text", "<foreignObject", "href"):
        assert absent not in qr.group(1)
    uri = typed_key(page)
    assert typed_key(await chrome.get("/security/totp")) == uri  # a reload keeps the key

    wrong = await chrome.submit("/security/totp/confirm", {"code": "000000"})
    assert wrong.status_code == 401
    assert alert(wrong) == WRONG_CODE
    assert typed_key(wrong) == uri  # the same key, to try again
    assert not (await auth.factors.summary(mine.user_id)).totp

    code = authenticator.code(uri, clock.now())
    done = await chrome.submit("/security/totp/confirm", {"code": code})
    assert done.status_code == 200
    assert "<h1>Your recovery codes</h1>" in done.text
    codes = shown_codes(done)
    assert len(codes) == len(set(codes)) == 10
    assert all(CODE_FORMAT.match(one) for one in codes), codes
    assert 'href="/security?two_step=totp_added"' in done.text

    # Shown once: a repeated POST (a reload) and the Security page show no code again.
    again = await chrome.submit("/security/totp/confirm", {"code": code})
    assert (again.status_code, again.headers["location"]) == (303, "/security")
    after = await chrome.get("/security?two_step=totp_added")
    assert status_notice(after).startswith("Two-step sign-in is on")
    assert '<dd id="totp-status">On</dd>' in card(after)
    assert '<dd id="recovery-codes-left">10</dd>' in card(after)
    assert not any(one in after.text for one in codes)
    assert ">Remove the authenticator app</button>" in card(after)
    # The device that set it up stays signed in; every other one was signed out.
    assert await firefox.is_sent_to_sign_in()
    assert [s.id for s in await auth.list_sessions(mine.user_id)] == [mine.session_id]


async def test_the_next_sign_in_asks_for_a_code_and_devices_say_how_each_signed_in(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    chrome = await signed_in(auth, open_browser)
    uri, codes = await enrol(chrome, authenticator, clock)

    firefox = await open_browser(FIREFOX_WINDOWS)
    first = await firefox.sign_in(EMAIL)
    assert first.status_code == 303
    step = first.headers["location"]
    assert step.startswith("/signin/second-factor")
    assert firefox.access_token is None  # the password alone gave no session
    form = await firefox.get(step)
    assert '<label for="code">Code</label>' in form.text
    wrong = await firefox.submit(step, {"code": "000000"})
    assert wrong.status_code == 401 and firefox.access_token is None
    done = await firefox.submit(step, {"code": authenticator.code(uri, clock.now())})
    assert (done.status_code, done.headers["location"]) == (303, "/devices")
    assert firefox.access_token is not None

    phone = await open_browser("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)")
    await phone.sign_in(EMAIL)
    used = await phone.submit("/signin/second-factor", {"recovery_code": codes[0].lower()})
    assert used.status_code == 303 and phone.access_token is not None

    # Sessions that signed in other ways: a passkey alone, and a provider.
    user = await auth.users.find_by_email(EMAIL)
    assert user is not None
    issuer = auth.components.issuer
    await issuer.start(
        user_id=user.id,
        roles=user.roles,
        client=ClientInfo.build("203.0.113.9", "Passkey-Device/1.0"),
        now=clock.now(),
        amr=("hwk", "user", "mfa"),
    )
    await issuer.start(
        user_id=user.id,
        roles=user.roles,
        client=ClientInfo.build("203.0.113.9", "Provider-Device/1.0"),
        now=clock.now(),
        federation=Federation("google", "identity-1"),
    )

    page = await chrome.get("/devices")
    labels = dict(
        re.findall(
            r'data-session-id="([^"]+)">.*?<dd class="sign-in-method">([^<]+)</dd>',
            page.text,
            re.S,
        )
    )
    listed = await chrome.http.get("/auth/sessions", headers=bearer(chrome.access_token or ""))
    amr = {session["user_agent"]: session["amr"] for session in listed.json()}
    by_agent = {s.user_agent: s.id for s in await auth.list_sessions(user.id)}
    assert {agent: labels[sid] for agent, sid in by_agent.items()} == {
        CHROME_LINUX: "Password + one-time code",  # stepped up when it set up the app
        FIREFOX_WINDOWS: "Password + one-time code",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)": "Password + one-time code",
        "Passkey-Device/1.0": "Passkey",
        "Provider-Device/1.0": "Google",
    }
    assert amr[FIREFOX_WINDOWS] == ["pwd", "otp", "mfa"]
    assert amr["Passkey-Device/1.0"] == ["hwk", "user", "mfa"]
    assert amr["Provider-Device/1.0"] == ["fed"]

    # An account without a second factor: "Password", in the page and the API.
    bob = await signed_in(auth, open_browser, "bob@example.com")
    assert '<dd class="sign-in-method">Password</dd>' in (await bob.get("/devices")).text
    bob_sessions = await bob.http.get("/auth/sessions", headers=bearer(bob.access_token or ""))
    assert [s["amr"] for s in bob_sessions.json()] == [["pwd"]]


async def test_confirming_it_is_you_takes_a_code_not_the_password(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    chrome = await signed_in(auth, open_browser)
    uri, old_codes = await enrol(chrome, authenticator, clock)
    mine = await principal_of(auth, chrome)
    await go_stale(auth, clock, chrome)

    stale = await chrome.submit("/security/recovery-codes")
    assert (stale.status_code, stale.headers["location"]) == (303, "/reauth?next=/security")
    form = await chrome.get("/reauth?next=/security")
    assert "<h1>Confirm it is you</h1>" in form.text
    assert '<label for="code">Code from your authenticator app</label>' in form.text
    assert '<label for="recovery_code">Recovery code</label>' in form.text
    assert 'name="password"' not in form.text  # a password would not count: no loop

    password = await chrome.submit("/reauth", {"password": PASSWORD, "next": "/security"})
    assert password.status_code == 401
    wrong = await chrome.submit("/reauth", {"code": "000000", "next": "/security"})
    assert wrong.status_code == 401
    assert alert(wrong) == WRONG_CODE
    assert (await chrome.submit("/security/recovery-codes")).status_code == 303  # still stale

    right = await chrome.submit(
        "/reauth", {"code": authenticator.code(uri, clock.now()), "next": "/security"}
    )
    assert (right.status_code, right.headers["location"]) == (303, "/security")
    fresh = await chrome.submit("/security/recovery-codes")
    assert fresh.status_code == 200
    new_codes = shown_codes(fresh)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert 'href="/security?two_step=codes_replaced"' in fresh.text
    page = await chrome.get("/security?two_step=codes_replaced")
    assert status_notice(page) == "New recovery codes are ready; the old ones no longer work."
    assert '<dd id="recovery-codes-left">10</dd>' in card(page)

    # The old codes stopped working; a new one confirms it is you, once.
    await go_stale(auth, clock, chrome)
    old = await chrome.submit("/reauth", {"recovery_code": old_codes[0], "next": "/security"})
    assert old.status_code == 401
    clock.advance(10)  # past the backoff of the failures above
    new = await chrome.submit("/reauth", {"recovery_code": new_codes[0], "next": "/security"})
    assert new.status_code == 303
    assert (await auth.factors.summary(mine.user_id)).recovery_codes_left == 9


async def test_guessing_codes_on_the_confirm_page_is_slowed_down(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    chrome = await signed_in(auth, open_browser)
    await enrol(chrome, authenticator, clock)
    statuses = []
    for _ in range(8):
        answer = await chrome.submit("/reauth", {"code": "000000", "next": "/security"})
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) >= 1
            assert alert(answer).startswith("Too many attempts. Try again in ")
            assert '<label for="code">' in answer.text  # the form stays, to try later
            break
    assert statuses[:3] == [401, 401, 401] and statuses[-1] == 429, statuses


async def test_guessing_codes_at_sign_in_is_slowed_down_with_a_retry_after(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    chrome = await signed_in(auth, open_browser)
    await enrol(chrome, authenticator, clock)
    firefox = await open_browser(FIREFOX_WINDOWS)
    step = (await firefox.sign_in(EMAIL)).headers["location"]
    statuses = []
    for _ in range(5):
        answer = await firefox.submit(step, {"code": "000000"})
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) >= 1
            assert alert(answer).startswith("Too many attempts. Try again in ")
            break
    assert statuses[-1] == 429 and firefox.access_token is None, statuses


async def test_removing_the_app_needs_a_fresh_code_and_turns_two_step_sign_in_off(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    chrome = await signed_in(auth, open_browser)
    uri, codes = await enrol(chrome, authenticator, clock)
    firefox = await open_browser(FIREFOX_WINDOWS)
    await firefox.sign_in(EMAIL)
    await firefox.submit("/signin/second-factor", {"code": authenticator.code(uri, clock.now())})
    assert firefox.access_token is not None
    mine = await principal_of(auth, chrome)
    await go_stale(auth, clock, chrome)

    stale = await chrome.submit("/security/totp/remove")
    assert (stale.status_code, stale.headers["location"]) == (303, "/reauth?next=/security")
    assert (await auth.factors.summary(mine.user_id)).totp  # nothing happened yet
    await chrome.submit("/reauth", {"recovery_code": codes[0], "next": "/security"})
    removed = await chrome.submit("/security/totp/remove")
    assert (removed.status_code, removed.headers["location"]) == (
        303,
        "/security?two_step=totp_removed",
    )
    page = await chrome.get(removed.headers["location"])
    assert status_notice(page) == (
        "The authenticator app was removed. Your other devices were signed out."
    )
    assert '<dd id="totp-status">Off</dd>' in card(page)
    assert "Recovery codes left" not in card(page)  # they went with the last factor
    assert await firefox.is_sent_to_sign_in()

    # The password alone signs in again.
    later = await open_browser(FIREFOX_WINDOWS)
    signed = await later.sign_in(EMAIL)
    assert (signed.status_code, signed.headers["location"]) == (303, "/devices")


async def test_the_two_step_forms_refuse_a_missing_csrf_token(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    chrome = await signed_in(auth, open_browser)
    mine = await principal_of(auth, chrome)
    assert (await chrome.submit("/security/totp", csrf=None)).status_code == 403
    assert (await auth.factors.store.totp(mine.user_id)) is None  # no secret was made
    await enrol(chrome, authenticator, clock)
    for path in ("/security/totp/remove", "/security/recovery-codes"):
        refused = await chrome.submit(path, csrf=None)
        assert refused.status_code == 403, path
        assert alert(refused).startswith("This form expired or was not sent from this site.")
    summary = await auth.factors.summary(mine.user_id)
    assert summary.totp and summary.recovery_codes_left == 10

    # Nor does a confirmation without the token turn an app on.
    bob = await signed_in(auth, open_browser, "bob@example.com")
    await bob.submit("/security/totp")
    bob_uri = typed_key(await bob.get("/security/totp"))
    forged = await bob.submit(
        "/security/totp/confirm", {"code": authenticator.code(bob_uri, clock.now())}, csrf=None
    )
    assert forged.status_code == 403
    assert not (await auth.factors.summary((await principal_of(auth, bob)).user_id)).totp
