"""RFC 7009 and RFC 7662 across instances: a token revoked through ``/oauth/revoke`` on one
instance introspects as inactive on every other one at once, even where it was warm; a client
created by the CLI authenticates on every instance, and a deleted one on none."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.cluster.harness import (
    Cluster,
    assert_live_everywhere,
    assert_refused_everywhere,
    expect,
    login,
    register,
    unique_email,
)
from tests.oauth import basic

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def create_client(cluster: Cluster, name: str, *options: str) -> tuple[str, str]:
    created = cluster.cli("clients", "create", name, *options)
    assert created.returncode == 0, created.stderr
    client_id = re.search(r"^client_id: (\S+)$", created.stdout, re.M)
    secret = re.search(r"^client_secret: (\S+)$", created.stdout, re.M)
    assert client_id and secret, created.stdout
    return client_id.group(1), secret.group(1)


def introspect(client: httpx.Client, token: str, credentials: tuple[str, str]) -> httpx.Response:
    return client.post("/oauth/introspect", data={"token": token}, headers=basic(*credentials))


def test_revoke_on_one_instance_is_inactive_on_every_other(cluster: Cluster) -> None:
    a, b, c = cluster.clients
    credentials = create_client(cluster, "orders-api")
    email = unique_email("oauth-revoke")
    register(a, email)
    session = login(a, email)
    for instance in (a, b, c):  # warm everywhere: only the feed can change the answer
        response = introspect(instance, session["access_token"], credentials)
        expect(response, 200)
        assert response.json()["active"] is True

    expect(c.post("/oauth/revoke", data={"token": session["refresh_token"]}), 200)

    for instance in (a, b, c):
        for token in (session["access_token"], session["refresh_token"]):
            response = introspect(instance, token, credentials)
            expect(response, 200)
            assert response.json() == {"active": False}


def test_a_deleted_client_is_refused_by_every_instance(cluster: Cluster) -> None:
    credentials = create_client(cluster, "short-lived-api")
    for instance in cluster.clients:
        expect(introspect(instance, "unknown", credentials), 200)
    deleted = cluster.cli("clients", "delete", credentials[0])
    assert deleted.returncode == 0, deleted.stderr
    for instance in cluster.clients:
        expect(introspect(instance, "unknown", credentials), 401, "invalid_client")


def test_a_service_client_deleted_by_the_cli_is_refused_by_every_instance(
    cluster: Cluster,
) -> None:
    a, b, c = cluster.clients
    credentials = create_client(cluster, "exporter", "--client-credentials", "--scope", "x:read")
    granted = b.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials)
    expect(granted, 200)
    token = granted.json()["access_token"]
    assert_live_everywhere((a, b, c), token, "before the delete")

    deleted = cluster.cli("clients", "delete", credentials[0])
    assert deleted.returncode == 0, deleted.stderr

    assert_refused_everywhere((a, b, c), token, "account_disabled", "after the CLI delete")
    again = c.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials)
    expect(again, 401, "invalid_client")
