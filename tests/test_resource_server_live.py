"""The resource-server SDK against a real ``sessionjwt serve`` and its real ``/oauth/introspect``.

NOTE: these tests need the introspection endpoint and ``sessionjwt clients create`` from the
OAuth-endpoints branch; on a branch without them they fail (by design: they are the contract).
:func:`create_client` is the one place that reads the CLI's output.

The issuer runs on SQLite with the machine's Redis as its invalidation feed, so a revoke there
is published on the channel the resource server listens to.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionjwt.errors import AuthenticationError, SessionRevoked, StoreUnavailable
from sessionjwt.resource_server import ResourceServer, ResourceServerConfig
from sessionjwt.resource_server.liveness import FeedLiveness
from sessionjwt.sessions.liveness.redis_feed import RedisFeed
from tests.cluster.harness import Cluster, Instance, free_port, login, register, unique_email
from tests.conftest import bearer

pytestmark = pytest.mark.redis
ISSUER = "https://auth.live.test"
AUDIENCE = "https://api.live.test"


@dataclass(frozen=True, slots=True)
class LiveIssuer:
    cluster: Cluster
    namespace: str
    redis_url: str
    client_id: str
    client_secret: str

    @property
    def http(self) -> httpx.Client:
        return self.cluster.clients[0]

    @property
    def base_url(self) -> str:
        return self.cluster.instances[0].base_url


def create_client(cluster: Cluster, name: str, *options: str) -> tuple[str, str]:
    """``sessionjwt clients create NAME`` → (client id, secret), read from its output."""
    ran = cluster.cli("clients", "create", name, *options)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    text = ran.stdout
    client_id = re.search(r"client[_ ]id\W+([A-Za-z0-9._~-]+)", text, re.IGNORECASE)
    secret = re.search(r"(?:client[_ ])?secret\W+([A-Za-z0-9._~+/=-]{16,})", text, re.IGNORECASE)
    assert client_id and secret, f"cannot read the client from: {text!r}"
    return client_id.group(1), secret.group(1)


@contextmanager
def running_issuer(
    redis_url: str, data_dir: Path, client_name: str, **extra_env: str
) -> Iterator[LiveIssuer]:
    """A real ``sessionjwt serve`` on Redis, with one introspection client registered."""
    namespace = f"sjrslive-{secrets.token_hex(6)}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("SESSIONJWT_")}
    env.update(
        {
            "SESSIONJWT_DATA_DIR": str(data_dir),
            "SESSIONJWT_ISSUER": ISSUER,
            "SESSIONJWT_AUDIENCE": AUDIENCE,
            "SESSIONJWT_REDIS_URL": redis_url,
            "SESSIONJWT_REDIS_NAMESPACE": namespace,
            "SESSIONJWT_ARGON2_TIME_COST": "1",
            "SESSIONJWT_ARGON2_MEMORY_COST_KIB": "1024",
            "SESSIONJWT_ARGON2_PARALLELISM": "1",
            "COLUMNS": "250",
            **extra_env,
        }
    )
    # Migrate and create the first key before serving, so the CLI and server never race.
    subprocess.run([sys.executable, "-m", "sessionjwt.server.cli", "migrate"], env=env, check=True)
    instance = Instance("A", free_port(), env, data_dir / "serve.log")
    cluster = Cluster(env, [instance])
    try:
        cluster.wait_ready()
        client_id, secret = create_client(cluster, client_name)
        yield LiveIssuer(cluster, namespace, redis_url, client_id, secret)
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def live(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIssuer]:
    with running_issuer(redis_url, tmp_path_factory.mktemp("rs-live"), "orders-service") as issuer:
        yield issuer


def rs_config(live: LiveIssuer, **overrides: Any) -> ResourceServerConfig:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "client_id": live.client_id,
        "client_secret": live.client_secret,
        "jwks_url": live.base_url + "/.well-known/jwks.json",
        "introspection_url": live.base_url + "/oauth/introspect",
    }
    values.update(overrides)
    return ResourceServerConfig(**values)


def signed_in(live: LiveIssuer) -> dict[str, Any]:
    email = unique_email("rs-live")
    register(live.http, email)
    return login(live.http, email)


@pytest.fixture
async def introspecting(live: LiveIssuer) -> AsyncIterator[ResourceServer]:
    async with ResourceServer(rs_config(live, introspection_cache_ttl=0)) as rs:
        yield rs


@pytest.fixture
async def feed_following(live: LiveIssuer) -> AsyncIterator[ResourceServer]:
    # The longest lease (1 s): these tests call the issuer with a blocking client, which
    # stalls this loop; a stalled member rightly stops trusting memory after its lease, and
    # the 100 ms default is shorter than a stall on a loaded CI machine.
    config = rs_config(
        live,
        liveness="redis",
        redis_url=live.redis_url,
        redis_namespace=live.namespace,
        feed_stale_after=1.0,
    )
    async with ResourceServer(config) as rs:
        feed = rs.liveness
        assert isinstance(feed, FeedLiveness) and isinstance(feed.feed, RedisFeed)
        for _ in range(500):  # until its own heartbeat came back: memory is trusted
            if feed.feed.trusting:
                break
            await asyncio.sleep(0.01)
        yield rs


async def test_introspection_mode_accepts_then_refuses_after_logout(
    live: LiveIssuer, introspecting: ResourceServer
) -> None:
    tokens = signed_in(live)
    principal = await introspecting.check(tokens["access_token"])
    assert principal.session_id == tokens["session_id"]
    assert "@example.com" in principal.email
    assert live.http.post("/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    with pytest.raises(SessionRevoked):
        await introspecting.check(tokens["access_token"])


async def test_redis_mode_refuses_a_revoke_without_asking(
    live: LiveIssuer, feed_following: ResourceServer
) -> None:
    rs = feed_following
    tokens = signed_in(live)
    await rs.check(tokens["access_token"])
    for _ in range(3):
        await rs.check(tokens["access_token"])
    assert rs.introspection.calls == 1, "warm checks need no network"

    feed = feed_following.liveness
    assert isinstance(feed, FeedLiveness) and isinstance(feed.feed, RedisFeed)
    applied = feed.feed.messages_applied
    # Off this loop: the issuer's revoke waits for this member's acknowledgement, which a
    # blocking call here would stall until the lease ran out.
    logout = partial(live.http.post, "/auth/logout", headers=bearer(tokens["access_token"]))
    assert (await asyncio.to_thread(logout)).status_code == 204
    for _ in range(300):  # the message is in flight for well under a millisecond
        if feed.feed.messages_applied > applied:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(SessionRevoked):
        await rs.check(tokens["access_token"])
    assert rs.introspection.calls == 1, "refused from memory"


async def test_sign_out_everywhere_reaches_the_resource_server(
    live: LiveIssuer, feed_following: ResourceServer
) -> None:
    tokens = signed_in(live)
    await feed_following.check(tokens["access_token"])
    response = live.http.post("/auth/logout-all", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    for _ in range(300):
        try:
            await feed_following.check(tokens["access_token"])
        except SessionRevoked:
            return
        await asyncio.sleep(0.01)
    pytest.fail("sign-out-everywhere was not refused by the resource server")


async def test_wrong_client_secret_is_503(live: LiveIssuer) -> None:
    config = rs_config(live, client_secret="not-the-secret", introspection_cache_ttl=0)
    async with ResourceServer(config) as rs:
        with pytest.raises(StoreUnavailable):
            await rs.check(signed_in(live)["access_token"])


# -- a service client's own token (client credentials), judged by the SDK -----------------


def client_token(live: LiveIssuer, credentials: tuple[str, str]) -> str:
    response = live.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_a_client_credentials_token_is_accepted_with_its_scopes_then_refused_once_deleted(
    live: LiveIssuer, introspecting: ResourceServer, feed_following: ResourceServer
) -> None:
    service = create_client(
        live.cluster, "nightly-export", "--client-credentials", "--scope", "orders:read"
    )
    listed = live.cluster.cli("clients", "list")
    assert "client_credentials" in listed.stdout and "orders:read" in listed.stdout
    token = client_token(live, service)
    for rs in (introspecting, feed_following):
        principal = await rs.check(token)
        assert (principal.user_id, principal.credential) == (service[0], "client")
        assert principal.has_scopes("orders:read") and not principal.has_scopes("orders:write")

    deleted = await asyncio.to_thread(live.cluster.cli, "clients", "delete", service[0])
    assert deleted.returncode == 0, deleted.stderr
    with pytest.raises(SessionRevoked):
        await introspecting.check(token)
    for _ in range(300):  # the feed's "account disabled" message is in flight
        try:
            await feed_following.check(token)
        except AuthenticationError as refused:
            assert refused.code in ("account_disabled", "session_revoked")
            return
        await asyncio.sleep(0.01)
    pytest.fail("the deleted client's token was still accepted by the feed-following server")
