"""Account enumeration through ``POST /auth/password-reset`` and ``/auth/verify-email/resend``.

The attacker asks for a reset (or a new verification link) for an address they know has an
account and for one that has none, and compares the answers: status, headers, body — and
time, which an outside review measured at 8.66 ms against 4.44 ms when the known address
wrote its rows and started its mail before answering. Parity is asserted without a clock:
the background work is held back while the request is answered, and every store call, mail
and throttle on the request path is recorded. Both addresses make the same ones (only the
throttles, which decide whether to answer at all); the look-up, the rows and the mail come
after the answer. The mail then still reaches the account, and its link still works.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionjwt import SessionJWT, Settings
from sessionjwt.audit.query import AuditFilter
from tests.conftest import PASSWORD, make_settings
from tests.mail import Inbox, smtp_server, smtp_settings

KNOWN = "victim@example.com"
UNKNOWN = "nobody-here@example.com"
NEW_PASSWORD = "a brand new passphrase 42"
LINK = re.compile(r"https://app\.example\.test/(?:reset|verify)\?token=([A-Za-z0-9_-]+)")
# Differ from one answer to the next whatever the address.
PER_RESPONSE = {"date", "x-request-id"}


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(LINK)
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
        email_verification="optional",
        email_verification_url="https://app.example.test/verify?token={token}",
        password_reset_url="https://app.example.test/reset?token={token}",
    )


class RequestPath:
    """Records what a request does before it is answered, with the background work held.

    Jobs handed to the service's background runner wait for :meth:`release`; meanwhile every
    database read or write, mail and throttle hit is appended to :attr:`calls`."""

    def __init__(self, auth: SessionJWT, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self._gate = asyncio.Event()
        parts = auth.components
        start = parts.after_answer.start

        def held(work: Coroutine[Any, Any, None], what: str) -> None:
            self.calls.append(f"background: {what}")
            start(self._after_gate(work), what)

        def recorded(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return original(*args, **kwargs)

            return call

        monkeypatch.setattr(parts.after_answer, "start", held)
        monkeypatch.setattr(auth.database, "read", recorded("read", auth.database.read))
        monkeypatch.setattr(auth.database, "write", recorded("write", auth.database.write))
        for name in ("send", "send_later"):
            original = getattr(parts.outbox, name)
            monkeypatch.setattr(parts.outbox, name, recorded(f"mail {name}", original))
        hit = parts.throttle.hit

        async def counted_hit(limit: str, prefix: str, key: str) -> None:
            self.calls.append(f"throttle {prefix}")
            await hit(limit, prefix, key)

        monkeypatch.setattr(parts.throttle, "hit", counted_hit)

    async def _after_gate(self, work: Coroutine[Any, Any, None]) -> None:
        await self._gate.wait()
        await work

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls

    async def release(self, auth: SessionJWT) -> list[str]:
        """Let the held work run to its end; what it did."""
        self.take()
        self._gate.set()
        await auth.components.after_answer.drain()
        return self.take()


def fixed_part(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in PER_RESPONSE]
    return response.status_code, headers, response.content


async def ask_both(
    client: httpx.AsyncClient, path: RequestPath, url: str
) -> dict[str, tuple[Any, list[str]]]:
    """The answer to ``url`` for each address, and what the request path did for it."""
    seen: dict[str, tuple[Any, list[str]]] = {}
    for address in (KNOWN, UNKNOWN):
        response = await client.post(url, json={"email": address})
        seen[address] = (fixed_part(response), path.take())
    return seen


async def test_a_reset_request_answers_and_works_alike_for_a_known_and_an_unknown_address(
    auth: SessionJWT,
    client: httpx.AsyncClient,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    victim = await auth.register(KNOWN, PASSWORD, verified=True)
    path = RequestPath(auth, monkeypatch)
    seen = await ask_both(client, path, "/auth/password-reset")

    (known, known_work), (unknown, unknown_work) = seen[KNOWN], seen[UNKNOWN]
    assert known[0] == 202
    assert known == unknown  # status, headers and body, byte for byte
    assert (
        known_work
        == unknown_work
        == [
            "throttle reset-ip",
            "throttle reset-email",
            "background: password-reset request",
        ]
    )
    # Answered, and nothing that depends on the address has happened yet.
    assert inbox.messages == []
    requested = AuditFilter.parse(event="password_reset_requested")
    assert (await auth.audit_events(requested)).events == []

    after = await path.release(auth)
    assert after.count("mail send") == 1  # the known address's; the unknown one sent none
    assert [to for to, _ in inbox.messages] == [[KNOWN]]
    assert [e.user_id for e in (await auth.audit_events(requested)).events] == [victim.id]

    confirmed = await client.post(
        "/auth/password-reset/confirm",
        json={"token": inbox.token_for(KNOWN), "new_password": NEW_PASSWORD},
    )
    assert confirmed.status_code == 204, confirmed.text
    await auth.authenticate(KNOWN, NEW_PASSWORD)


async def test_reset_requests_are_throttled_before_the_answer_for_any_address(
    auth: SessionJWT, client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await auth.register(KNOWN, PASSWORD, verified=True)
    limit = int(auth.settings.password_reset_rate_limit_email.split("/")[0])
    refusals = []
    for address in (KNOWN, UNKNOWN):
        for _ in range(limit):
            await client.post("/auth/password-reset", json={"email": address})
        refused = await client.post("/auth/password-reset", json={"email": address.upper()})
        assert refused.status_code == 429, refused.text
        refusals.append(fixed_part(refused))
    assert refusals[0] == refusals[1]
    await auth.components.after_answer.drain()
    assert len(inbox.mails_to(KNOWN)) == limit and inbox.mails_to(UNKNOWN) == []


async def test_a_verification_resend_answers_and_works_alike_for_a_pending_and_an_unknown_address(
    auth: SessionJWT,
    client: httpx.AsyncClient,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await auth.sign_up(KNOWN, PASSWORD)  # an account whose address is still to be confirmed
    await auth.components.after_answer.drain()
    first_link = inbox.token_for(KNOWN)
    path = RequestPath(auth, monkeypatch)
    seen = await ask_both(client, path, "/auth/verify-email/resend")

    (known, known_work), (unknown, unknown_work) = seen[KNOWN], seen[UNKNOWN]
    assert known[0] == 202
    assert known == unknown
    assert (
        known_work
        == unknown_work
        == [
            "throttle verify-resend-ip",
            "throttle verify-resend-email",
            "background: verification resend",
        ]
    )
    assert len(inbox.mails_to(KNOWN)) == 1 and inbox.mails_to(UNKNOWN) == []

    await path.release(auth)
    assert len(inbox.mails_to(KNOWN)) == 2 and inbox.mails_to(UNKNOWN) == []
    token = inbox.token_for(KNOWN)
    assert token != first_link
    stale = await client.post("/auth/verify-email", json={"token": first_link})
    assert stale.status_code == 400  # the new link superseded the first
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204
    user = await auth.components.users.find_by_email(KNOWN)
    assert user is not None and user.email_verified
