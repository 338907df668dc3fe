"""Distributed guessing, and the real user's turn through it (issue 18, item 6).

Past the per-account ceiling every address that fails waits the full cap from its first
failure: the attacker's many addresses get one guess per cap each. That used to cost the real
user, mistyping once from a new address, the full cap too. A browser (or API client) holding
the known-device cookie of an earlier sign-in to the account is not held to the ceiling —
only to its own address's backoff — and a forged, expired, foreign or failed-out cookie is
no cookie at all. Time is a ManualClock; nobody sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.server.app import create_app
from tests.conftest import PASSWORD, make_settings
from tests.pages.conftest import ORIGIN, Browser

DEVICE = "__Host-sjwt-device"
CAP = 900
WRONG = "a guess"
CEILING = 10


@asynccontextmanager
async def service(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock, **overrides: object
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        tmp_path, **backend, login_failures_per_account=f"{CEILING}/hour", **overrides
    )
    async with SessionJWT(settings, clock=clock) as auth:
        await auth.register("alice@example.com", PASSWORD)
        await auth.register("bob@example.com", PASSWORD)
        yield create_app(auth=auth)


async def login(
    app: FastAPI,
    peer: str,
    password: str = PASSWORD,
    *,
    email: str = "alice@example.com",
    device: str | None = None,
) -> httpx.Response:
    """One ``POST /auth/login`` from ``peer``, presenting ``device`` as the cookie if given."""
    transport = httpx.ASGITransport(app=app, client=(peer, 51000))
    headers = {b"cookie": f"{DEVICE}={device}".encode("latin-1")} if device else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.post(
            "/auth/login", json={"email": email, "password": password}, headers=headers
        )


def device_cookie(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{DEVICE}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no known-device cookie")


async def open_the_ceiling(app: FastAPI, addresses: int = 20) -> int:
    """Guess from many addresses until every one is held back; the guesses let through."""
    accepted = 0
    for n in range(addresses):
        while (response := await login(app, f"198.51.100.{n + 1}", WRONG)).status_code == 401:
            accepted += 1
        assert response.status_code == 429
    return accepted


def waits(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    return int(response.headers["Retry-After"])


async def test_many_addresses_still_meet_the_ceiling(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    async with service(tmp_path, backend, clock) as app:
        accepted = await open_the_ceiling(app, addresses=20)
        # The first addresses used their free failures until the ceiling; after it, each
        # new address got one guess and then the full cap.
        assert accepted <= CEILING + 3 + 20
        fresh = "198.51.100.200"
        assert (await login(app, fresh, WRONG)).status_code == 401
        assert waits(await login(app, fresh, WRONG)) == CAP


async def test_the_real_users_known_device_signs_in_through_the_open_ceiling(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    async with service(tmp_path, backend, clock) as app:
        cookie = device_cookie(await login(app, "203.0.113.7"))  # last week, at home
        await open_the_ceiling(app)
        # Today, from a café: one typo, then the right password, at once.
        assert (await login(app, "192.0.2.10", WRONG, device=cookie)).status_code == 401
        signed_in = await login(app, "192.0.2.10", device=cookie)
        assert signed_in.status_code == 200
        assert device_cookie(signed_in) != cookie  # a fresh one for next time
        # Without the cookie, the same typo from another new address costs the cap.
        assert (await login(app, "192.0.2.11", WRONG)).status_code == 401
        assert waits(await login(app, "192.0.2.11")) == CAP


async def test_the_cookie_never_lifts_the_addresss_own_backoff(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    async with service(tmp_path, backend, clock) as app:
        cookie = device_cookie(await login(app, "203.0.113.7"))
        for _ in range(3):  # the free failures of this (account, address) pair
            assert (await login(app, "192.0.2.10", WRONG, device=cookie)).status_code == 401
        assert waits(await login(app, "192.0.2.10", device=cookie)) == 1


async def test_forged_expired_and_foreign_cookies_lift_nothing(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    async with service(tmp_path, backend, clock, login_known_device_ttl=86400) as app:
        alices = device_cookie(await login(app, "203.0.113.7"))
        bobs = device_cookie(await login(app, "203.0.113.8", email="bob@example.com"))
        version, user_id, device_id, expires, mac = alices.split(".")
        later = ".".join((version, user_id, device_id, str(int(expires) + 10**6), mac))
        forged_mac = ".".join((version, user_id, device_id, expires, "A" * len(mac)))
        await open_the_ceiling(app)
        clock.advance(86400)  # alice's and bob's cookies have just expired
        candidates = {
            "expired": alices,
            "bob's": bobs,
            "expiry moved": later,
            "forged mac": forged_mac,
            "garbage": "v1.x.y.z.w",
            "not ascii": "v1.é.y.1.w",
        }
        for n, (name, cookie) in enumerate(candidates.items()):
            peer = f"192.0.2.{n + 20}"
            assert (await login(app, peer, WRONG, device=cookie)).status_code == 401, name
            assert waits(await login(app, peer, device=cookie)) == CAP, name


async def test_a_device_that_keeps_failing_loses_the_exemption(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    async with service(tmp_path, backend, clock, login_known_device_failures=2) as app:
        stolen = device_cookie(await login(app, "203.0.113.7"))
        await open_the_ceiling(app)
        for _ in range(2):  # exempt, so within the address's free failures; both counted
            assert (await login(app, "192.0.2.30", WRONG, device=stolen)).status_code == 401
        peer = "192.0.2.40"  # the next address with it is held to the ceiling again
        assert (await login(app, peer, WRONG, device=stolen)).status_code == 401
        assert waits(await login(app, peer, device=stolen)) == CAP


async def test_the_cookie_is_host_only_http_only_secure_and_expires(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    async with service(tmp_path, backend, clock) as app:
        response = await login(app, "203.0.113.7")
        [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(DEVICE)]
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert {"httponly", "secure", "path", "samesite", "max-age"} <= attributes
        assert "domain" not in attributes
        assert "Max-Age=7776000" in header and "Path=/;" in header + ";"
        # A wrong password hands out nothing.
        assert not (await login(app, "203.0.113.7", WRONG)).headers.get_list("set-cookie")


async def test_the_sign_in_page_sets_it_and_honours_it(
    tmp_path: Path, backend: dict[str, object], clock: ManualClock
) -> None:
    async with service(tmp_path, backend, clock) as app:

        async def browser_at(peer: str) -> AsyncIterator[Browser]:
            transport = httpx.ASGITransport(app=app, client=(peer, 51000))
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
                yield Browser(http, "pytest-browser/1.0")

        async with asynccontextmanager(browser_at)("203.0.113.7") as home:
            assert (await home.sign_in("alice@example.com")).status_code == 303
            cookie = home.http.cookies.get(DEVICE)
            assert cookie
        await open_the_ceiling(app)
        async with asynccontextmanager(browser_at)("192.0.2.10") as cafe:
            cafe.http.cookies.set(DEVICE, cookie, domain="testserver.local")  # cookiejar: dotless
            assert (await cafe.sign_in("alice@example.com", WRONG)).status_code == 401
            assert (await cafe.sign_in("alice@example.com")).status_code == 303
