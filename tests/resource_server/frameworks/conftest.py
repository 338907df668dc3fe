"""One real ``sessionjwt serve`` per test module (the live RS tests' fixture), and the tokens
every framework face must refuse with the issuer's codes."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import pytest

from tests.cluster.harness import free_port
from tests.test_resource_server_live import (
    LiveIssuer,
    rs_config,
    running_issuer,
    signed_in,
)


@pytest.fixture(scope="module")
def live(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIssuer]:
    """The live RS tests' issuer, with sign-up limits raised: each test signs a user up."""
    with running_issuer(
        redis_url,
        tmp_path_factory.mktemp("rs-frameworks"),
        "framework-service",
        SESSIONJWT_REGISTER_RATE_LIMIT_IP="10000/minute",
        SESSIONJWT_LOGIN_RATE_LIMIT_IP="10000/minute",
    ) as issuer:
        yield issuer


__all__ = [
    "LiveIssuer",
    "bad_tokens",
    "config_values",
    "feed_values",
    "first_answer_after_logout",
    "live",
    "signed_in",
    "unreachable_config",
]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def bad_tokens(token: str) -> dict[str, str]:
    """A live token tampered with three ways: each is 401 ``invalid_token`` at the issuer."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    header = _header(token)
    return {
        "tampered": f"{head}.{_b64({**claims, 'roles': ['admin']})}.{signature}",
        "alg-none": f"{_b64({**header, 'alg': 'none'})}.{payload}.",
        "unknown-kid": f"{_b64({**header, 'kid': 'no-such-kid'})}.{payload}.{signature}",
    }


def unreachable_config(live: LiveIssuer, **overrides: Any) -> dict[str, Any]:
    """Config values naming an issuer nobody listens for: every check must be a 503."""
    dead = f"http://127.0.0.1:{free_port()}"
    return config_values(
        live,
        jwks_url=dead + "/.well-known/jwks.json",
        introspection_url=dead + "/oauth/introspect",
        http_timeout=0.5,
        **overrides,
    )


def config_values(live: LiveIssuer, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of a config against ``live``, as a framework's settings hold them."""
    return dataclasses.asdict(rs_config(live, **overrides))


def feed_values(live: LiveIssuer) -> dict[str, Any]:
    """Redis-feed mode on the issuer's channel, with the longest lease (see the live tests)."""
    return config_values(
        live,
        liveness="redis",
        redis_url=live.redis_url,
        redis_namespace=live.namespace,
        feed_stale_after=1.0,
    )


class _Answer(Protocol):
    @property
    def status_code(self) -> int: ...


Answer = TypeVar("Answer", bound=_Answer)


def first_answer_after_logout(send: Callable[[], Answer], *, redis_mode: bool) -> Answer:
    """The face's answer once the issuer's logout has returned: in ``redis`` mode the very
    next request (the revoke returned only after this process acknowledged it); in
    ``introspection`` mode the first 401 within the 1 s cache TTL (or the last answer)."""
    deadline = time.monotonic() + (0.0 if redis_mode else 1.5)
    while True:
        response = send()
        if response.status_code == 401 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)
