"""A real OpenID Provider in a subprocess, and the moves a browser would make against it.

:class:`LocalOP` is what the ``local_op`` fixture (``tests/providers/conftest.py``) yields: the
certified ``oidc-provider`` of ``tests/providers/node`` running ``op.mjs`` on 127.0.0.1. The
helpers below drive it over real HTTP with httpx, no browser needed:

* :func:`sign_in`: from the RP's authorization URL, through the OP's scripted login page, to
  the OP's redirect back to the RP (``code`` + ``state``, or ``error=access_denied``), which is
  returned, not followed.
* :func:`id_token_for`: a genuine ID token for any client, by a full code flow with PKCE.
* :func:`backchannel_logout`: the OP ends the account's sessions and POSTs its own signed
  logout token to every client of those sessions with a ``backchannel_logout_uri``.
* :func:`end_session`: RP-initiated logout by the "browser" that signed in (the OP then sends
  the same back-channel logout tokens).

The OP matches redirect URIs exactly, as it must; a test registers the RP's real URL (any host
and port) with :meth:`LocalOP.configure_client` before the flow, and the ``fresh_op`` fixture puts
the clients back afterwards.

Cookies: a browser keeps cookies per host, not per port, so the OP's (``_session``,
``_interaction``, ``_interaction_resume`` and their ``.sig``) and an RP's on another port of
127.0.0.1 share one jar. :func:`sign_in` therefore uses its own client for the OP unless it is
handed the "browser" (``browser=``) whose OP session should persist.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html.parser
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

NODE_DIR = Path(__file__).parent / "node"
OP_SCRIPT = NODE_DIR / "op.mjs"
START_TIMEOUT = 20.0  # seconds; a start takes well under one on an idle machine
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

RP_CLIENT_ID = "sessionjwt-rp"
OTHER_CLIENT_ID = "other-app"
# Never contacted: the helpers stop at the OP's redirect. Tests register the RP's real one.
PLACEHOLDER_REDIRECT_URI = "https://rp.invalid/callback"


class OPError(AssertionError):
    """The OP answered something else than the step expected (its page or body attached)."""


@dataclass(frozen=True, slots=True)
class OPClient:
    """One client registered at the OP (OpenID Connect Dynamic Registration metadata names)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = (PLACEHOLDER_REDIRECT_URI,)
    token_endpoint_auth_method: str = "client_secret_basic"
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = True
    id_token_signed_response_alg: str = "RS256"
    post_logout_redirect_uris: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        values = asdict(self)
        values["redirect_uris"] = list(self.redirect_uris)
        values["post_logout_redirect_uris"] = list(self.post_logout_redirect_uris)
        if self.backchannel_logout_uri is None:
            del values["backchannel_logout_uri"]
            del values["backchannel_logout_session_required"]
        return values


@dataclass(frozen=True, slots=True)
class Account:
    """An End-User of the OP; ``claims`` are what ``findAccount`` answers (scope-filtered)."""

    sub: str
    email: str
    email_verified: bool = True
    name: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.email_verified,
            **self.extra,
        }
        if self.name:
            claims["name"] = self.name
        return claims


def default_clients() -> list[OPClient]:
    """The RP (``client_secret_basic``) and a second client, another audience
    (``client_secret_post``); secrets are new each run."""
    return [
        OPClient(RP_CLIENT_ID, secrets.token_urlsafe(32)),
        OPClient(
            OTHER_CLIENT_ID,
            secrets.token_urlsafe(32),
            token_endpoint_auth_method="client_secret_post",
        ),
    ]


def default_accounts() -> list[Account]:
    """alice (verified address), bob (unverified); octo, as GitHub would know it: a public
    address on its profile, an unverified primary address and a verified secondary one."""
    return [
        Account("alice", "alice@example.com", True, "Alice Liddell"),
        Account("bob", "bob@example.com", False, "Bob Unverified"),
        Account(
            "octo",
            "octo@example.com",
            False,
            "Octo Cat",
            extra={
                "github_id": 583231,
                "github_login": "octocat",
                "github_public_email": "octo@example.com",
                "github_emails": [
                    {
                        "email": "octo@example.com",
                        "primary": True,
                        "verified": False,
                        "visibility": "public",
                    },
                    {
                        "email": "octo-work@example.com",
                        "primary": False,
                        "verified": True,
                        "visibility": None,
                    },
                ],
            },
        ),
    ]


@dataclass(slots=True)
class OPConfig:
    clients: list[OPClient] = field(default_factory=default_clients)
    accounts: list[Account] = field(default_factory=default_accounts)
    # False: the code flow's ID token carries the scopes' claims (email, name), as Google's
    # and Microsoft's do. True: the library's strict reading, those claims only at userinfo.
    conform_id_token_claims: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "clients": [client.metadata() for client in self.clients],
            "accounts": [account.claims() for account in self.accounts],
            "conform_id_token_claims": self.conform_id_token_claims,
        }


class LocalOP:
    """``op.mjs`` running: start it with :meth:`start`, end it with :meth:`stop`."""

    def __init__(
        self, process: subprocess.Popen[bytes], issuer: str, config: OPConfig, log_path: Path
    ) -> None:
        self.process = process
        self.issuer = issuer
        self.port = int(urlsplit(issuer).port or 0)
        self.log_path = log_path
        self._base = {client.client_id: client for client in config.clients}
        self.clients: dict[str, OPClient] = dict(self._base)
        self.accounts: dict[str, Account] = {account.sub: account for account in config.accounts}

    @classmethod
    def start(cls, node: str, config: OPConfig, work_dir: Path, *, port: int = 0) -> LocalOP:
        """Start ``op.mjs`` on ``port`` (0: the kernel picks, so xdist workers never collide)
        and wait for its ``READY <issuer>`` line."""
        config_path = work_dir / "op-config.json"
        config_path.write_text(json.dumps(config.document()))
        log_path = work_dir / "op.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [node, str(OP_SCRIPT), "--config", str(config_path), "--port", str(port)],
                cwd=NODE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NODE_ENV": "test"},
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith("READY "):
                    return cls(process, line.split(" ", 1)[1].strip(), config, log_path)
            if process.poll() is not None:
                break
            time.sleep(0.02)
        process.kill()
        process.wait()
        raise RuntimeError(f"op.mjs did not start: {log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        """What the OP printed: its warnings and the errors it emitted (for assertion messages)."""
        return self.log_path.read_text(errors="replace")

    # -- where things are ----------------------------------------------------------------------

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks"

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + "/auth"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    @property
    def end_session_endpoint(self) -> str:
        return self.issuer + "/session/end"

    # -- changing it while it runs -----------------------------------------------------------------

    async def configure_client(self, client_id: str, **changes: Any) -> OPClient:
        """Add or change a client (``OPClient`` field names, e.g. ``redirect_uris=[...]``,
        ``backchannel_logout_uri=...``); the OP validates and uses it from the next request."""
        current = self.clients.get(client_id) or OPClient(client_id, secrets.token_urlsafe(32))
        for name in ("redirect_uris", "post_logout_redirect_uris"):
            if name in changes:
                changes[name] = tuple(changes[name])
        client = replace(current, **changes)
        async with _http() as http:
            response = await http.put(
                f"{self.issuer}/test/clients/{client_id}", json=client.metadata()
            )
        if response.status_code != 200:
            raise OPError(f"the OP refused the client metadata: {response.text}")
        self.clients[client_id] = client
        return client

    async def set_clock(self, offset: float) -> None:
        """Run the OP's clock ``offset`` seconds off the real one (negative: behind); what it
        signs from now on is dated by it. :meth:`reset` sets it right."""
        async with _http() as http:
            response = await http.put(f"{self.issuer}/test/clock", json={"offset": offset})
        response.raise_for_status()

    @contextlib.asynccontextmanager
    async def clock_behind(self, seconds: float) -> AsyncIterator[None]:
        """The OP's clock ``seconds`` behind inside the block: an ID token signed then is one
        issued ``seconds`` ago (with the OP's 1 h lifetime and more than 1 h behind: expired)."""
        if not seconds:
            yield
            return
        await self.set_clock(-seconds)
        try:
            yield
        finally:
            await self.set_clock(0)

    def reset(self) -> None:
        """The configured clients again; every session, grant, code and token forgotten; the
        OP's clock right."""
        response = httpx.post(f"{self.issuer}/test/reset", timeout=10, trust_env=False)
        response.raise_for_status()
        self.clients = dict(self._base)


def _http(**options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10, trust_env=False, **options)


# -- discovery -----------------------------------------------------------------------------------


async def discovery(op: LocalOP) -> dict[str, Any]:
    async with _http() as http:
        response = await http.get(op.discovery_url)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


async def jwks(op: LocalOP) -> dict[str, Any]:
    async with _http() as http:
        response = await http.get(op.jwks_url)
    response.raise_for_status()
    keys: dict[str, Any] = response.json()
    return keys


# -- the authorization code flow ---------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """``(code_verifier, code_challenge)`` for ``code_challenge_method=S256``."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    op: LocalOP,
    client_id: str,
    *,
    redirect_uri: str | None = None,
    state: str | None = None,
    nonce: str | None = None,
    code_challenge: str | None = None,
    scope: str = "openid email profile",
    **extra: str,
) -> str:
    """An authorization request URL as an RP would build it (``code_challenge=None`` leaves
    PKCE out, which this OP refuses)."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri or op.clients[client_id].redirect_uris[0],
        "scope": scope,
        "state": state or secrets.token_urlsafe(16),
        **extra,
    }
    if nonce is not None:
        params["nonce"] = nonce
    if code_challenge is not None:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    return f"{op.authorization_endpoint}?{urlencode(params)}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


async def sign_in(
    op: LocalOP,
    authorize_url: str,
    login: str,
    *,
    deny: bool = False,
    browser: httpx.AsyncClient | None = None,
) -> str:
    """Follow the OP from the RP's authorization URL through the scripted login, as ``login``
    (a ``sub``) or refusing (``deny=True``); the OP's final redirect back to the RP, not
    followed: the callback URL with ``code`` and ``state``, or with ``error``.

    ``browser`` keeps the OP's session cookie across calls (single sign-on, then
    :func:`end_session`); without it every call starts a browser with no OP session. When the
    OP already has a session and a grant, it redirects back without showing the login page."""
    own = browser is None
    http = browser if browser is not None else _http()
    try:
        url = authorize_url
        for _ in range(10):
            if _origin(url) != _origin(op.issuer):
                return url
            path = urlsplit(url).path
            if path.startswith("/interaction/"):
                action = "deny" if deny else "login"
                response = await http.post(
                    f"{op.issuer}{path.rstrip('/')}/{action}",
                    data={} if deny else {"login": login},
                    follow_redirects=False,
                )
            else:
                response = await http.get(url, follow_redirects=False)
            if response.status_code not in (302, 303):
                raise OPError(
                    f"the OP answered {response.status_code} at {url}: {response.text[:2000]}"
                )
            url = urljoin(url, response.headers["location"])
        raise OPError(f"too many redirects at the OP, last {url}")
    finally:
        if own:
            await http.aclose()


def callback_params(url: str) -> dict[str, str]:
    """The query of the OP's redirect to the RP, one value per name."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def exchange_code(
    op: LocalOP, client_id: str, code: str, redirect_uri: str, code_verifier: str | None
) -> dict[str, Any]:
    """The token response for ``code``, with the client's registered authentication method."""
    client = op.clients[client_id]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    async with _http() as http:
        if client.token_endpoint_auth_method == "client_secret_post":
            form.update(client_id=client.client_id, client_secret=client.client_secret)
            response = await http.post(op.token_endpoint, data=form)
        else:  # the secrets and ids here need no form-encoding inside Basic (RFC 6749 2.3.1)
            basic = httpx.BasicAuth(client.client_id, client.client_secret)
            response = await http.post(op.token_endpoint, data=form, auth=basic)
    if response.status_code != 200:
        raise OPError(f"token endpoint answered {response.status_code}: {response.text}")
    tokens: dict[str, Any] = response.json()
    return tokens


async def id_token_for(
    op: LocalOP, client_id: str, login: str, nonce: str, *, issued_ago: float = 0
) -> str:
    """A genuine ID token for ``client_id`` about ``login``, by a full code flow with PKCE
    straight against the OP (the native app that got its own ID token). ``issued_ago``: the
    OP signs it with its clock that far behind (more than its 1 h lifetime: expired)."""
    verifier, challenge = pkce_pair()
    redirect_uri = op.clients[client_id].redirect_uris[0]
    state = secrets.token_urlsafe(16)
    url = authorization_url(
        op, client_id, redirect_uri=redirect_uri, state=state, nonce=nonce, code_challenge=challenge
    )
    back = callback_params(await sign_in(op, url, login))
    if "code" not in back or back.get("state") != state:
        raise OPError(f"no code from the OP: {back}")
    async with op.clock_behind(issued_ago):
        tokens = await exchange_code(op, client_id, back["code"], redirect_uri, verifier)
    token: str = tokens["id_token"]
    return token


# -- logout --------------------------------------------------------------------------------------


async def backchannel_logout(op: LocalOP, sub: str) -> list[dict[str, Any]]:
    """End every OP session of ``sub``; for each client of those sessions that registered a
    ``backchannel_logout_uri`` the OP POSTs its own logout token there (the call its RP-initiated
    logout makes). One entry per delivery: ``client_id``, ``sid``, ``delivered``, ``error``."""
    async with _http() as http:
        response = await http.post(f"{op.issuer}/test/backchannel/{sub}")
    response.raise_for_status()
    deliveries: list[dict[str, Any]] = response.json()["deliveries"]
    return deliveries


class _FormFields(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = values.get("action")
        if tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


async def end_session(
    op: LocalOP,
    browser: httpx.AsyncClient,
    *,
    id_token_hint: str | None = None,
    client_id: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> str:
    """RP-initiated logout by ``browser`` (the client that signed in with
    ``sign_in(..., browser=browser)``): the end-session request, the OP's confirmation form
    answered "yes"; the OP sends its back-channel logout tokens before it answers. Returns where
    the OP sends the browser (``post_logout_redirect_uri`` or its own signed-out page)."""
    params = {
        name: value
        for name, value in {
            "id_token_hint": id_token_hint,
            "client_id": client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "state": state,
        }.items()
        if value is not None
    }
    page = await browser.get(op.end_session_endpoint, params=params, follow_redirects=False)
    if page.status_code != 200:
        raise OPError(f"end_session answered {page.status_code}: {page.text[:2000]}")
    form = _FormFields()
    form.feed(page.text)
    if form.action is None or "xsrf" not in form.fields:
        raise OPError(f"no logout form from the OP: {page.text[:2000]}")
    confirmed = await browser.post(
        urljoin(op.end_session_endpoint, form.action),
        data={**form.fields, "logout": "yes"},
        follow_redirects=False,
    )
    if confirmed.status_code not in (302, 303):
        raise OPError(f"logout confirmation answered {confirmed.status_code}: {confirmed.text}")
    return urljoin(op.end_session_endpoint, confirmed.headers["location"])
