"""SESSIONJWT_PROVIDERS: refused at start-up when it could not work safely, and listed by the
CLI with the callback URL to register (never the secret)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionjwt import ConfigurationError, SessionJWT
from sessionjwt.accounts.providers.config import ProviderConfig, parse_providers
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"name": "op", "client_id": "x"}, "needs its issuer"),
        ({"name": "op", "issuer": "http://idp.example.com", "client_id": "x"}, "must be https"),
        ({"name": "Op Name", "issuer": "https://idp.example.com", "client_id": "x"}, "name"),
        ({"name": "op", "issuer": "https://idp.example.com", "client_id": ""}, "client_id"),
        ({"name": "gen", "preset": "oauth2", "client_id": "x"}, "userinfo_endpoint"),
        (
            {"name": "op", "issuer": "https://i.example", "client_id": "x", "surprise": 1},
            "surprise",
        ),
    ],
)
def test_a_provider_that_could_not_work_safely_is_refused_at_start_up(
    tmp_path: Path, entry: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        SessionJWT(make_settings(tmp_path, providers=[entry]))


def test_two_providers_of_one_name_are_refused() -> None:
    entry = {"name": "op", "issuer": "https://idp.example.com", "client_id": "x"}
    with pytest.raises(ConfigurationError, match="appears twice"):
        parse_providers([entry, entry])


def test_presets_fill_in_what_the_providers_document() -> None:
    google = ProviderConfig(name="google", preset="google", client_id="x")
    microsoft = ProviderConfig(name="ms", preset="microsoft", client_id="x", tenant="contoso")
    github = ProviderConfig(name="gh", preset="github", client_id="x")
    assert google.issuer_url == "https://accounts.google.com" and google.is_oidc
    assert microsoft.issuer_url == "https://login.microsoftonline.com/contoso/v2.0"
    assert not github.is_oidc and github.requested_scopes == ("read:user", "user:email")
    assert github.endpoint("token_endpoint") == "https://github.com/login/oauth/access_token"
    # GitHub documents client_id and client_secret as form parameters of the token request.
    assert github.token_auth_method == "client_secret_post"
    assert google.token_auth_method == "client_secret_basic"
    inline = ProviderConfig(name="s", preset="google", client_id="x", client_secret="hunter2-x")
    assert "hunter2-x" not in repr(inline) and inline.secret() == "hunter2-x"


def test_the_cli_lists_providers_with_their_callback_and_never_the_secret(
    tmp_path: Path,
) -> None:
    providers = [
        {"name": "google", "preset": "google", "client_id": "abc", "client_secret": "s3cr3t-value"},
        {"name": "corp", "issuer": "https://login.corp.example", "client_id": "rp"},
    ]
    env = {
        **os.environ,
        "SESSIONJWT_DATA_DIR": str(tmp_path),
        "SESSIONJWT_ISSUER": "https://auth.example.com",
        "SESSIONJWT_PROVIDERS": json.dumps(providers),
        "COLUMNS": "250",
    }
    listed = subprocess.run(
        [sys.executable, "-m", "sessionjwt.server.cli", "providers", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "https://auth.example.com/auth/providers/google/callback" in listed.stdout
    assert "https://login.corp.example" in listed.stdout
    assert "s3cr3t-value" not in listed.stdout + listed.stderr


def test_microsofts_multi_tenant_issuer_is_checked_against_the_tokens_tenant() -> None:
    from sessionjwt.accounts.providers.id_token import _issuer_matches

    tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
    good = f"https://login.microsoftonline.com/{tid}/v2.0"
    for tenant in ("common", "organizations", "consumers"):
        config = ProviderConfig(name="ms", preset="microsoft", client_id="x", tenant=tenant)
        expected, template = config.issuer_url, config.tenant_issuer_template
        assert template is not None, tenant
        assert _issuer_matches(good, expected, template, {"tid": tid})
        assert not _issuer_matches(good, expected, template, {"tid": "another-tenant"})
        assert not _issuer_matches(good, expected, template, {})
        evil = "https://evil.example/" + tid + "/v2.0"
        assert not _issuer_matches(evil, expected, template, {"tid": tid})
    single = ProviderConfig(name="ms", preset="microsoft", client_id="x", tenant=tid)
    assert single.tenant_issuer_template is None
    assert _issuer_matches(good, single.issuer_url, None, {"tid": "whatever"})
    assert not _issuer_matches(
        good.replace(tid, "other"), single.issuer_url, None, {"tid": "other"}
    )
    # Only Microsoft's own multi-tenant endpoints: an issuer with /common/ in it is exact.
    other = ProviderConfig(name="o", issuer="https://idp.example/common/v2.0", client_id="x")
    assert other.tenant_issuer_template is None
    assert not _issuer_matches(good, other.issuer_url, None, {"tid": tid})
