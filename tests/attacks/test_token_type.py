"""Header policy: ``typ`` must say access token; ``crit``/``b64`` are refused; ``jku``, ``x5u``
and ``jwk`` are ignored: never fetched, never used to verify anything."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from sessionjwt.keys.ring import SigningKey
from tests.attacks.expect import (
    Victim,
    assert_attack_refused,
    assert_refused,
    assert_signed_in,
    assert_victim_unharmed,
    attack,
)
from tests.attacks.forge import segment, server_header, sign, sign_as_server


def signed_by_us(ours: SigningKey, header: dict[str, Any], victim: Victim) -> str:
    return sign_as_server(ours, segment(header), victim.payload_segment)


# -- typ ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typ",
    [
        pytest.param("at+jwt", id="at+jwt"),
        pytest.param("AT+JWT", id="upper-case"),
        pytest.param("At+Jwt", id="mixed-case"),
        pytest.param("application/at+jwt", id="media-type"),
        pytest.param("Application/AT+JWT", id="media-type-upper-case"),
    ],
)
async def test_access_token_typ_is_accepted_case_insensitively(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, typ: str
) -> None:
    """RFC 9068 §2.1 / RFC 7515 §4.1.9: media type names compare case-insensitively."""
    token = signed_by_us(ours, server_header(ours, typ=typ), victim)

    await assert_signed_in(client, victim, token)


@pytest.mark.parametrize(
    "typ",
    [
        pytest.param("JWT", id="JWT"),
        pytest.param("jwt", id="jwt"),
        pytest.param("JOSE", id="JOSE"),
        pytest.param("at+jwt ", id="trailing-space"),
        pytest.param("at+jwt; charset=utf-8", id="media-type-parameter"),
        pytest.param("refresh+jwt", id="refresh+jwt"),
        pytest.param("", id="empty"),
        pytest.param(None, id="null"),
        pytest.param(["at+jwt"], id="list-holding-at+jwt"),
        pytest.param(1, id="integer"),
    ],
)
async def test_typ_that_is_not_an_access_token(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, typ: object
) -> None:
    token = signed_by_us(ours, server_header(ours, typ=typ), victim)

    await assert_attack_refused(client, victim, token, because="typ must be at+jwt")


async def test_typ_missing(client: httpx.AsyncClient, victim: Victim, ours: SigningKey) -> None:
    token = signed_by_us(ours, {"alg": ours.alg, "kid": ours.kid}, victim)

    await assert_attack_refused(client, victim, token, because="typ must be at+jwt")


# -- crit, b64 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extension",
    [
        pytest.param({"crit": ["exp"]}, id="crit-exp"),
        pytest.param({"crit": []}, id="crit-empty"),
        pytest.param({"crit": ["x-unknown"], "x-unknown": True}, id="crit-unknown-extension"),
        pytest.param({"crit": ["x-unknown"]}, id="crit-names-an-absent-member"),
        pytest.param({"crit": "x-unknown"}, id="crit-not-a-list"),
        pytest.param({"crit": ["b64"], "b64": False}, id="b64-false-declared-critical"),
        pytest.param({"b64": False}, id="b64-false"),
        pytest.param({"b64": True}, id="b64-true"),
    ],
)
async def test_critical_header_extensions_are_refused(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, extension: dict[str, Any]
) -> None:
    """Correctly signed, yet refused: a ``crit`` the service does not understand must not be
    ignored (RFC 7515 §4.1.11), and unencoded payloads (RFC 7797) are not access tokens."""
    token = signed_by_us(ours, server_header(ours, **extension), victim)

    await assert_attack_refused(client, victim, token, because="critical header extensions")


# -- jku, x5u, jwk ----------------------------------------------------------------------------


@dataclass
class Listener:
    """A loopback HTTP server that serves the attacker's JWKS and records every request."""

    url: str
    requests: list[str] = field(default_factory=list)


def attacker_jwks(attacker_key: ed25519.Ed25519PrivateKey, kid: str) -> bytes:
    jwk = OKPAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True)
    return json.dumps({"keys": [{**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}]}).encode()


@pytest.fixture
def attacker_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def listener(attacker_key: ed25519.Ed25519PrivateKey) -> Iterator[Listener]:
    body = attacker_jwks(attacker_key, "attacker-key")
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        # The listener must be able to see a fetch, or "it saw nothing" proves nothing.
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        probe.request("GET", "/probe")
        assert probe.getresponse().read() == body
        probe.close()
        assert seen == ["/probe"]
        seen.clear()
        yield Listener(url=f"http://127.0.0.1:{port}", requests=seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_jku_and_x5u_are_never_fetched_and_do_not_stop_a_good_token(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey, listener: Listener
) -> None:
    header = server_header(ours, jku=f"{listener.url}/jwks.json", x5u=f"{listener.url}/cert.pem")
    token = signed_by_us(ours, header, victim)

    await assert_signed_in(client, victim, token)
    assert listener.requests == []


async def test_jku_pointing_at_the_attackers_jwks(
    client: httpx.AsyncClient,
    victim: Victim,
    listener: Listener,
    attacker_key: ed25519.Ed25519PrivateKey,
) -> None:
    """The attacker's kid and a jku serving the attacker's key: nothing fetched, unknown key."""
    header = segment(
        {"alg": "EdDSA", "kid": "attacker-key", "typ": "at+jwt", "jku": f"{listener.url}/jwks.json"}
    )
    forged = sign("EdDSA", attacker_key, header, victim.payload_segment)

    assert_refused(await attack(client, forged), because="signed by an unknown key")
    assert listener.requests == []
    await assert_victim_unharmed(client, victim)


async def test_x5u_under_our_kid_signed_by_the_attacker(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    listener: Listener,
    attacker_key: ed25519.Ed25519PrivateKey,
) -> None:
    header = segment(server_header(ours, x5u=f"{listener.url}/cert.pem"))
    forged = sign("EdDSA", attacker_key, header, victim.payload_segment)

    assert_refused(await attack(client, forged), because="signature is invalid")
    assert listener.requests == []
    await assert_victim_unharmed(client, victim)


def embedded_jwk(attacker_key: ed25519.Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    jwk = OKPAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid}


async def test_embedded_jwk_under_our_kid_signed_by_the_attacker(
    client: httpx.AsyncClient,
    victim: Victim,
    ours: SigningKey,
    attacker_key: ed25519.Ed25519PrivateKey,
) -> None:
    """CVE-2018-0114 shape: "verify me with the key I carry". Our kid pins our key."""
    header = segment(server_header(ours, jwk=embedded_jwk(attacker_key, ours.kid)))
    forged = sign("EdDSA", attacker_key, header, victim.payload_segment)

    await assert_attack_refused(client, victim, forged, because="signature is invalid")


async def test_embedded_jwk_under_the_attackers_kid(
    client: httpx.AsyncClient, victim: Victim, attacker_key: ed25519.Ed25519PrivateKey
) -> None:
    header = segment(
        {
            "alg": "EdDSA",
            "kid": "attacker-key",
            "typ": "at+jwt",
            "jwk": embedded_jwk(attacker_key, "attacker-key"),
        }
    )
    forged = sign("EdDSA", attacker_key, header, victim.payload_segment)

    await assert_attack_refused(client, victim, forged, because="signed by an unknown key")


async def test_embedded_jwk_of_our_own_key_changes_nothing(
    client: httpx.AsyncClient, victim: Victim, ours: SigningKey
) -> None:
    """A correctly signed token carrying a (harmless) jwk header is judged like any other."""
    public = ours.public_jwk()
    assert public is not None
    token = signed_by_us(ours, server_header(ours, jwk=public), victim)

    await assert_signed_in(client, victim, token)
