"""The Vault source, through hvac, against :class:`~tests.secret_servers.FakeKvV2`.

There is no Vault server on this machine. These tests exercise *our* side for real: hvac
builds and sends the HTTP request (path, mount, version, token header), and we parse the KV
v2 read response and map hvac's errors. They do not test Vault itself: its auth methods and
policies, TLS, namespaces, token renewal, or that a real server answers in exactly this shape
(the shape is the one HashiCorp documents for ``GET /v1/<mount>/data/<path>``).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionjwt import ConfigurationError, ManualClock, SessionJWT, Settings
from sessionjwt.keys.master import generate_master_key, load_master_keys, master_key_id
from tests.conftest import make_settings
from tests.secret_servers import FakeKvV2, login_and_check


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKvV2]:
    token = secrets.token_urlsafe(16)
    with FakeKvV2(token).running() as fake:
        monkeypatch.setenv("VAULT_ADDR", fake.url)
        monkeypatch.setenv("VAULT_TOKEN", token)
        monkeypatch.delenv("VAULT_NAMESPACE", raising=False)
        monkeypatch.delenv("VAULT_CACERT", raising=False)
        yield fake


def vault_settings(tmp_path: Path, path: str = "sessionjwt/master", **extra: Any) -> Settings:
    return make_settings(tmp_path, master_key_source="vault", master_key_vault_path=path, **extra)


def key_id(text: str) -> str:
    return master_key_id(base64.urlsafe_b64decode(text))


async def test_vault_kv2_key_signs_and_checks_tokens(
    vault: FakeKvV2, tmp_path: Path, clock: ManualClock
) -> None:
    key = generate_master_key()
    vault.put("secret", "sessionjwt/master", {"master_key": key})
    async with SessionJWT(vault_settings(tmp_path), clock=clock) as auth:
        await login_and_check(auth)
        assert auth.master_keys is not None and auth.master_keys.current_id == key_id(key)
    assert vault.requests == ["/v1/secret/data/sessionjwt/master"]
    assert not (tmp_path / "master.key").exists()


def test_vault_mount_field_and_pinned_previous_version(vault: FakeKvV2, tmp_path: Path) -> None:
    old, new = generate_master_key(), generate_master_key()
    vault.put("kv", "apps/auth", {"key": old, "other": "x"})
    vault.put("kv", "apps/auth", {"key": new, "other": "x"})
    settings = vault_settings(
        tmp_path,
        path="apps/auth",
        master_key_vault_mount="kv",
        master_key_vault_field="key",
        master_key_previous="apps/auth@1",
    )
    assert load_master_keys(settings).ids == (key_id(new), key_id(old))
    assert vault.requests == ["/v1/kv/data/apps/auth", "/v1/kv/data/apps/auth?version=1"]


def test_vault_missing_secret_is_named(vault: FakeKvV2, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Vault secret/nowhere: no such secret"):
        load_master_keys(vault_settings(tmp_path, path="nowhere"))


def test_vault_missing_field_is_named(vault: FakeKvV2, tmp_path: Path) -> None:
    vault.put("secret", "sessionjwt/master", {"password": generate_master_key()})
    with pytest.raises(ConfigurationError, match="has no string field 'master_key'"):
        load_master_keys(vault_settings(tmp_path))


def test_vault_wrong_size_key_is_refused_without_echoing_it(
    vault: FakeKvV2, tmp_path: Path
) -> None:
    short = base64.urlsafe_b64encode(os.urandom(20)).decode()
    vault.put("secret", "sessionjwt/master", {"master_key": short})
    with pytest.raises(ConfigurationError, match="must hold 32 bytes, not 20") as refused:
        load_master_keys(vault_settings(tmp_path))
    assert short not in str(refused.value)


def test_vault_refused_token_is_reported_as_permission(
    vault: FakeKvV2, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.put("secret", "sessionjwt/master", {"master_key": generate_master_key()})
    monkeypatch.setenv("VAULT_TOKEN", "not-the-token")
    with pytest.raises(ConfigurationError, match="permission denied") as refused:
        load_master_keys(vault_settings(tmp_path))
    assert "not-the-token" not in str(refused.value)


def test_vault_without_address_or_token_says_which(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    with pytest.raises(ConfigurationError, match="set VAULT_ADDR"):
        load_master_keys(vault_settings(tmp_path))
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:1")
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.vault-token either
    with pytest.raises(ConfigurationError, match="set VAULT_TOKEN"):
        load_master_keys(vault_settings(tmp_path))


def test_vault_unreachable_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with FakeKvV2("t").running() as stopped:
        url = stopped.url
    monkeypatch.setenv("VAULT_ADDR", url)
    monkeypatch.setenv("VAULT_TOKEN", "t")
    with pytest.raises(ConfigurationError, match=f"cannot reach Vault at {url}"):
        load_master_keys(vault_settings(tmp_path))
