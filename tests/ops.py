"""Helpers for the operations tests: an admin over HTTP, and metrics read back as numbers."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sessionjwt import SessionJWT
from tests.conftest import bearer, register_and_login

ADMIN_EMAIL = "root@example.com"


async def admin_headers(client: httpx.AsyncClient, auth: SessionJWT) -> dict[str, str]:
    """Register an account, grant it the admin role, and log it in; its bearer header."""
    await register_and_login(client, ADMIN_EMAIL)
    user = await auth.users.require_by_email(ADMIN_EMAIL)
    await auth.set_user_roles(user.id, [auth.settings.admin_role])
    body = await register_and_login(client, ADMIN_EMAIL, register=False)
    return bearer(body["access_token"])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """``/metrics`` as {(sample name, labels): value}."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
