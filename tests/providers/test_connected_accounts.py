"""Connected accounts on the Security page: connect a provider, see it, disconnect it."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD
from tests.pages.conftest import CHROME_LINUX, Browser
from tests.providers.op import RP_CLIENT_ID, LocalOP, sign_in
from tests.providers.test_sign_in import CALLBACK, provider, started


@pytest.fixture
async def op(fresh_op: LocalOP) -> LocalOP:
    await fresh_op.configure_client(RP_CLIENT_ID, redirect_uris=[CALLBACK])
    return fresh_op


def onward_url(page: str) -> str:
    """Where the "Connect" page sends the browser: its "Continue to" link."""
    found = re.search(r'<a href="([^"]+)">Continue to Local OP</a>', page)
    assert found is not None, page
    return html.unescape(found.group(1))


async def test_a_provider_is_connected_and_disconnected_from_the_security_page(
    tmp_path: Path, op: LocalOP
) -> None:
    auth = await started(tmp_path, provider(op))
    assert auth.providers is not None
    try:
        carol = await auth.register("carol@example.com", PASSWORD)
        transport = httpx.ASGITransport(app=create_app(auth=auth), client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            browser = Browser(http, CHROME_LINUX)
            await browser.sign_in("carol@example.com")
            assert browser.access_token is not None
            page = await browser.get("/security")
            assert "No identity provider is connected" in page.text
            assert "Connect Local OP" in page.text

            forged = await browser.submit(
                "/security/providers/op/link", origin="https://evil.example"
            )
            assert forged.status_code == 403  # a cross-site form cannot start a link

            # Not a redirect: the pages' CSP (form-action 'self') would stop the form's
            # navigation at the provider's origin. A page sends the browser on instead.
            going = await browser.submit("/security/providers/op/link")
            assert going.status_code == 200
            onward = onward_url(going.text)
            assert onward.startswith(op.issuer + "/auth?")
            assert f'<meta http-equiv="refresh" content="0; url={html.escape(onward)}">' in (
                going.text
            )
            back = urlsplit(await sign_in(op, onward, "alice"))
            done = await browser.get(f"{back.path}?{back.query}")
            assert done.status_code == 302 and done.headers["location"] == "/security"

            page = await browser.get("/security")
            assert "op (alice@example.com)" in page.text
            (identity,) = await auth.providers.identities(carol.id)
            gone = await browser.submit(f"/security/identities/{identity.id}/unlink")
            assert gone.status_code == 303
            assert gone.headers["location"] == "/security?disconnected=1"
            assert await auth.providers.identities(carol.id) == []
            assert (await browser.get("/security")).status_code == 200  # still signed in
    finally:
        await auth.close()


async def test_the_last_way_in_is_not_disconnected_from_the_page(
    tmp_path: Path, op: LocalOP
) -> None:
    auth = await started(tmp_path, provider(op))
    assert auth.providers is not None
    try:
        transport = httpx.ASGITransport(app=create_app(auth=auth), client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            browser = Browser(http, CHROME_LINUX)
            begun = await http.get("/auth/providers/op/authorize")
            back = urlsplit(await sign_in(op, begun.headers["location"], "alice"))
            assert (await http.get(f"{back.path}?{back.query}")).status_code == 302
            user = await auth.users.find_by_email("alice@example.com")
            assert user is not None
            (identity,) = await auth.providers.identities(user.id)
            refused = await browser.submit(f"/security/identities/{identity.id}/unlink")
            assert refused.headers["location"] == "/security?last_method=1"
            page = await browser.get(refused.headers["location"])
            assert page.status_code == 409 and "only way to sign in" in page.text
            assert len(await auth.providers.identities(user.id)) == 1
    finally:
        await auth.close()
