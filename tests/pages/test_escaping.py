"""Hostile text on the pages: emails, user agents, form values and searches are attacker-chosen,
and must come back as text, never as markup."""

from __future__ import annotations

from sessionjwt import SessionJWT
from tests.conftest import PASSWORD
from tests.pages.conftest import Browser, BrowserFactory, principal_of, signed_in

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


async def test_a_user_agent_with_a_script_renders_escaped_on_devices_and_admin_pages(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    hostile = await signed_in(auth, open_browser, user_agent=f"Mozilla/5.0 {SCRIPT}")
    admin = await signed_in(auth, open_browser, "root@example.com", roles=("admin",))
    target = await principal_of(auth, hostile)
    for page in (
        await hostile.get("/devices"),
        await hostile.get("/security"),
        await admin.get(f"/manage/users/{target.user_id}"),
    ):
        assert page.status_code == 200
        assert SCRIPT not in page.text
    devices = await hostile.get("/devices")
    assert ESCAPED in devices.text
    assert "<h2>Unknown browser</h2>" in devices.text


async def test_an_email_with_markup_characters_renders_escaped(
    auth: SessionJWT, open_browser: BrowserFactory
) -> None:
    email = "o'brien&<b>co</b>@example.com"
    browser = await open_browser("pytest")
    refused = await browser.submit("/signup", {"email": email, "password": PASSWORD})
    assert refused.status_code == 422
    assert "<b>co</b>" not in refused.text
    assert 'value="o&#39;brien&amp;&lt;b&gt;co&lt;/b&gt;@example.com"' in refused.text

    quirky = "o'brien&co@example.com"  # valid: ' and & are allowed in the local part
    user = await signed_in(auth, open_browser, quirky)
    admin = await signed_in(auth, open_browser, "root@example.com", roles=("admin",))
    own = await user.get("/devices")
    assert "<strong>o&#39;brien&amp;co@example.com</strong>" in own.text
    listed = await admin.get("/manage/users?q=brien")
    assert ">o&#39;brien&amp;co@example.com</a>" in listed.text


async def test_reflected_form_values_and_searches_render_escaped(
    auth: SessionJWT, browser: Browser, open_browser: BrowserFactory
) -> None:
    attack = f'"><img src=x>{SCRIPT}'
    signin = await browser.submit("/signin", {"email": attack, "password": "x"})
    assert signin.status_code == 401
    assert SCRIPT not in signin.text and "<img src=x>" not in signin.text
    assert 'value="&#34;&gt;&lt;img src=x&gt;' in signin.text

    next_attack = await browser.get('/signin?next=/devices"><script>alert(1)</script>')
    assert SCRIPT not in next_attack.text

    admin = await signed_in(auth, open_browser, "root@example.com", roles=("admin",))
    search = await admin.get("/manage/users?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert search.status_code == 200
    assert SCRIPT not in search.text
    assert ESCAPED in search.text
