"""``liveness="introspection"``: the issuer is asked, answers are kept for the documented TTL,
and every failure to get an answer is a 503."""

from __future__ import annotations

import asyncio

import pytest

from sessionjwt.errors import InvalidToken, SessionRevoked, StoreUnavailable
from tests.resource_server.conftest import RSFactory
from tests.resource_server.fake_issuer import FakeIssuer


async def test_live_token_gives_the_issuers_principal(
    issuer: FakeIssuer, make_rs: RSFactory
) -> None:
    rs = await make_rs()
    issuer.roles = ("reader", "admin")
    principal = await rs.check(issuer.token("u-7", "s-7"))
    assert principal.user_id == "u-7" and principal.session_id == "s-7"
    assert principal.email == "u-7@example.com"
    assert principal.roles == ("reader", "admin")


async def test_answers_are_kept_for_the_ttl_and_no_longer(
    issuer: FakeIssuer, make_rs: RSFactory
) -> None:
    rs = await make_rs(introspection_cache_ttl=0.3)
    token = issuer.token("u-1", "s-1")
    await rs.check(token)
    await rs.check(token)
    assert issuer.introspect_requests == 1
    issuer.revoked.add("s-1")
    await rs.check(token)  # within the TTL: the documented revocation delay
    await asyncio.sleep(0.35)
    with pytest.raises(SessionRevoked):
        await rs.check(token)
    assert issuer.introspect_requests == 2
    with pytest.raises(SessionRevoked):
        await rs.check(token)  # an ended session is remembered too
    assert issuer.introspect_requests == 2


async def test_ttl_zero_asks_every_time(issuer: FakeIssuer, make_rs: RSFactory) -> None:
    rs = await make_rs(introspection_cache_ttl=0)
    token = issuer.token()
    await rs.check(token)
    issuer.revoked.add("sid-1")
    with pytest.raises(SessionRevoked) as refused:
        await rs.check(token)
    assert refused.value.code == "session_revoked" and refused.value.status == 401


@pytest.mark.parametrize("status", [500, 502, 503, 429, 400])
async def test_issuer_error_is_503(status: int, issuer: FakeIssuer, make_rs: RSFactory) -> None:
    rs = await make_rs()
    issuer.introspect_status = status
    with pytest.raises(StoreUnavailable) as refused:
        await rs.check(issuer.token())
    assert refused.value.status == 503 and refused.value.code == "store_unavailable"


async def test_issuer_unreachable_is_503(issuer: FakeIssuer, make_rs: RSFactory) -> None:
    rs = await make_rs(introspection_url="http://127.0.0.1:9/oauth/introspect")
    with pytest.raises(StoreUnavailable):
        await rs.check(issuer.token())


async def test_wrong_client_secret_is_503_not_401(
    issuer: FakeIssuer, make_rs: RSFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rs = await make_rs(client_secret="not-the-secret")
    with pytest.raises(StoreUnavailable):
        await rs.check(issuer.token())
    assert "client credentials" in caplog.text
    assert "not-the-secret" not in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [],
        {"active": "true"},
        {"active": True},  # live without sub/sid
        {"active": True, "sub": "user-1", "sid": "sid-1", "roles": "admin"},
    ],
)
async def test_unusable_answer_is_503(body: object, issuer: FakeIssuer, make_rs: RSFactory) -> None:
    rs = await make_rs()
    issuer.introspect_body = body
    with pytest.raises(StoreUnavailable):
        await rs.check(issuer.token())


async def test_answer_about_another_session_is_refused(
    issuer: FakeIssuer, make_rs: RSFactory
) -> None:
    rs = await make_rs()
    issuer.introspect_body = {"active": True, "sub": "user-1", "sid": "someone-else"}
    with pytest.raises(InvalidToken):
        await rs.check(issuer.token())


async def test_local_verification_comes_first(issuer: FakeIssuer, make_rs: RSFactory) -> None:
    """A forged token never reaches the issuer: no introspection call is spent on it."""
    rs = await make_rs()
    token = issuer.token()
    header, payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        await rs.check(f"{header}.{payload}.{signature[:-4]}AAAA")
    assert issuer.introspect_requests == 0
