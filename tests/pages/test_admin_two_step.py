"""Admins and second factors: under ``SESSIONJWT_MFA_REQUIRED_ROLES=admin`` the admin API and
pages refuse a session that proved no second factor (and let it in once it has); an admin
resets a user's factors from the user page or the API, behind a fresh proof, audited, ending
the user's sessions; ``Depends(auth.require_mfa())`` guards an application's own route.

Codes come from Node's otplib, as in ``test_two_step.py``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from sessionjwt import ManualClock, SessionJWT, Settings
from sessionjwt.audit.query import AuditFilter
from sessionjwt.audit.trail import AuditEventType
from sessionjwt.principal import Principal
from sessionjwt.web.pages.admin import ADMIN_NEEDS_MFA
from tests.conftest import PASSWORD, bearer, make_settings
from tests.factors.conftest import AuthenticatorApp
from tests.pages.conftest import (
    ORIGIN,
    Browser,
    BrowserFactory,
    alert,
    principal_of,
    signed_in,
    status_notice,
)
from tests.pages.test_two_step import enrol, go_stale, shown_codes, typed_key

ROOT = "root@example.com"


@pytest.fixture
def settings(tmp_path: Path, backend: dict[str, object]) -> Settings:
    return make_settings(tmp_path, mfa_required_roles=["admin"], **backend)


async def admin_with_app(
    auth: SessionJWT, open_browser: BrowserFactory, app: AuthenticatorApp, clock: ManualClock
) -> tuple[Browser, str]:
    """An admin's first sign-in under the policy: it sets up the app before any session."""
    await auth.register(ROOT, PASSWORD, roles=("admin",))
    root = await open_browser("Admin-Browser/1.0")
    first = await root.sign_in(ROOT)
    step = first.headers["location"]
    uri = typed_key(await root.get(step))
    done = await root.submit(step, {"code": app.code(uri, clock.now())})
    assert done.status_code == 200 and len(shown_codes(done)) == 10
    clock.advance(30)
    return root, uri


async def api(browser: Browser, method: str, path: str) -> httpx.Response:
    """The admin API, called with the browser's own access token as a script would."""
    headers = bearer(browser.access_token or "")
    return await browser.http.request(method, path, headers=headers)


async def test_an_admin_session_without_a_second_factor_is_refused_until_it_proves_one(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    # Promoted to admin while signed in with the password alone.
    alice = await signed_in(auth, open_browser)
    await auth.set_user_roles((await principal_of(auth, alice)).user_id, ["admin"])
    bob = await signed_in(auth, open_browser, "bob@example.com")

    page = await alice.get("/manage/users")
    assert page.status_code == 403
    assert alert(page) == ADMIN_NEEDS_MFA
    assert '<a href="/security">Go to the Security page</a>' in page.text
    refused = await api(alice, "GET", "/admin/keys")
    assert (refused.status_code, refused.json()["error"]) == (403, "mfa_required")
    # Without the role the answer stays "not an admin", whatever the session proved.
    member = await api(bob, "GET", "/admin/keys")
    assert (member.status_code, member.json()["error"]) == (403, "insufficient_role")

    await enrol(alice, authenticator, clock)  # this session proved the app's first code
    assert (await alice.get("/manage/users")).status_code == 200
    assert (await api(alice, "GET", "/admin/keys")).status_code == 200


async def test_an_admin_resets_a_users_second_factors_from_the_user_page(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    root, root_uri = await admin_with_app(auth, open_browser, authenticator, clock)
    alice = await signed_in(auth, open_browser)
    await enrol(alice, authenticator, clock)
    target = await principal_of(auth, alice)
    user_page = f"/manage/users/{target.user_id}"

    page = await root.get(user_page)
    assert '<dd id="totp-status">On</dd>' in page.text
    assert '<dd id="recovery-codes-left">10</dd>' in page.text
    assert ">Reset two-step sign-in</button>" in page.text

    await go_stale(auth, clock, root)
    stale = await root.submit(user_page + "/mfa-reset")
    assert (stale.status_code, stale.headers["location"]) == (303, f"/reauth?next={user_page}")
    assert (await auth.factors.summary(target.user_id)).totp  # nothing happened yet
    await root.submit("/reauth", {"code": authenticator.code(root_uri, clock.now())})
    done = await root.submit(user_page + "/mfa-reset")
    assert (done.status_code, done.headers["location"]) == (303, user_page + "?done=mfa_reset")
    after = await root.get(done.headers["location"])
    assert status_notice(after).startswith("Two-step sign-in was reset")
    assert '<dd id="totp-status">Off</dd>' in after.text
    assert ">Reset two-step sign-in</button>" not in after.text

    summary = await auth.factors.summary(target.user_id)
    assert (summary.totp, summary.passkeys, summary.recovery_codes_left) == (False, 0, 0)
    assert await alice.is_sent_to_sign_in()
    admin = await principal_of(auth, root)
    audit = await auth.audit_events(
        AuditFilter(user=target.user_id, event=AuditEventType.MFA_RESET)
    )
    assert [(e.event, e.actor) for e in audit.events] == [("mfa_reset", admin.user_id)]
    # The password alone signs the user in again, to set up a new app.
    again = await open_browser("Mozilla/5.0 New-Phone")
    signed = await again.sign_in("alice@example.com")
    assert (signed.status_code, signed.headers["location"]) == (303, "/devices")


async def test_the_admin_api_resets_factors_after_a_fresh_proof(
    auth: SessionJWT,
    open_browser: BrowserFactory,
    authenticator: AuthenticatorApp,
    clock: ManualClock,
) -> None:
    root, root_uri = await admin_with_app(auth, open_browser, authenticator, clock)
    alice = await signed_in(auth, open_browser)
    await enrol(alice, authenticator, clock)
    target = await principal_of(auth, alice)
    reset = f"/admin/users/{target.user_id}/mfa-reset"

    await go_stale(auth, clock, root)
    stale = await api(root, "POST", reset)
    assert (stale.status_code, stale.json()["error"]) == (403, "reauthentication_required")
    assert (await auth.factors.summary(target.user_id)).totp
    stepped = await root.http.post(
        "/auth/reauthenticate",
        json={"code": authenticator.code(root_uri, clock.now())},
        headers=bearer(root.access_token or ""),
    )
    assert stepped.status_code == 204, stepped.text

    done = await api(root, "POST", reset)
    assert done.status_code == 200
    assert done.json() == {"totp": True, "passkeys": 0, "recovery_codes": 10}
    assert await alice.is_sent_to_sign_in()
    admin = await principal_of(auth, root)
    audit = await auth.audit_events(
        AuditFilter(user=target.user_id, event=AuditEventType.MFA_RESET)
    )
    assert [e.actor for e in audit.events] == [f"user:{admin.user_id}"]
    nothing_left = await api(root, "POST", reset)
    assert nothing_left.json() == {"totp": False, "passkeys": 0, "recovery_codes": 0}

    unknown = await api(root, "POST", "/admin/users/no-such-user/mfa-reset")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "user_not_found")
    bob = await signed_in(auth, open_browser, "bob@example.com")
    member = await api(bob, "POST", reset)
    assert (member.status_code, member.json()["error"]) == (403, "insufficient_role")


async def test_an_application_route_with_require_mfa_needs_a_second_factor_session(
    auth: SessionJWT, authenticator: AuthenticatorApp, clock: ManualClock
) -> None:
    app = FastAPI()
    auth.protect(app)

    @app.get("/payroll")
    async def payroll(principal: Principal = Depends(auth.require_mfa())) -> dict[str, str]:  # noqa: B008
        return {"user": principal.user_id}

    await auth.register("carol@example.com", PASSWORD)
    pair = await auth.login("carol@example.com", PASSWORD)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        refused = await http.get("/payroll", headers=bearer(pair.access_token))
        assert (refused.status_code, refused.json()["error"]) == (403, "mfa_required")

        principal = await auth.check(pair.access_token)
        enrolment = await auth.factors.begin_totp(principal)
        code = authenticator.code(enrolment.otpauth_uri, clock.now())
        await auth.factors.confirm_totp(principal, code)  # this session now proved it
        allowed = await http.get("/payroll", headers=bearer(pair.access_token))
        assert allowed.status_code == 200
        assert allowed.json() == {"user": principal.user_id}
