"""The AWS sources against a real local endpoint: moto's standalone server, started here.

boto3 speaks HTTP to it exactly as to AWS (signing, JSON protocol, error codes); the server
keeps its own state. Nothing in boto3 or in our sources is patched.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sessionjwt import ConfigurationError, ManualClock, SessionJWT, Settings
from sessionjwt.keys.master import generate_master_key, load_master_keys, master_key_id
from tests.conftest import make_settings
from tests.secret_servers import login_and_check, moto_server

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Dummy credentials for boto3's usual chain, and no stray profile from the host."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return moto_endpoint


def client(endpoint: str, service: str) -> Any:
    return boto3.session.Session().client(service, region_name=REGION, endpoint_url=endpoint)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def aws_settings(tmp_path: Path, endpoint: str, source: str, name: str, **extra: Any) -> Settings:
    return make_settings(
        tmp_path,
        master_key_source=source,
        master_key_aws_name=name,
        master_key_aws_region=REGION,
        master_key_aws_endpoint_url=endpoint,
        **extra,
    )


# -- SSM Parameter Store --------------------------------------------------------------------


async def test_ssm_securestring_key_signs_and_checks_tokens(
    aws: str, tmp_path: Path, clock: ManualClock
) -> None:
    name = unique("/sessionjwt/master")
    key = generate_master_key()
    client(aws, "ssm").put_parameter(Name=name, Value=key, Type="SecureString")
    settings = aws_settings(tmp_path, aws, "aws-ssm", name)
    async with SessionJWT(settings, clock=clock) as auth:
        pair = await login_and_check(auth)
        assert auth.master_keys is not None
        assert auth.master_keys.current_id == master_key_id(base64.urlsafe_b64decode(key))
    async with SessionJWT(settings, clock=clock) as again:  # a restart reads it again
        assert (await again.check(pair.access_token)).email == "alice@example.com"
    assert not (tmp_path / "master.key").exists()


def test_ssm_missing_parameter_is_named(aws: str, tmp_path: Path) -> None:
    name = unique("/sessionjwt/absent")
    with pytest.raises(ConfigurationError, match=f"SSM parameter {name}: not found"):
        load_master_keys(aws_settings(tmp_path, aws, "aws-ssm", name))


def test_ssm_wrong_size_key_is_refused_without_echoing_it(aws: str, tmp_path: Path) -> None:
    name = unique("/sessionjwt/short")
    short = base64.urlsafe_b64encode(os.urandom(24)).decode()
    client(aws, "ssm").put_parameter(Name=name, Value=short, Type="SecureString")
    with pytest.raises(ConfigurationError, match="must hold 32 bytes, not 24") as refused:
        load_master_keys(aws_settings(tmp_path, aws, "aws-ssm", name))
    assert short not in str(refused.value)


def test_ssm_plain_string_parameter_is_refused(aws: str, tmp_path: Path) -> None:
    name = unique("/sessionjwt/clear")
    client(aws, "ssm").put_parameter(Name=name, Value=generate_master_key(), Type="String")
    with pytest.raises(ConfigurationError, match="must be a SecureString"):
        load_master_keys(aws_settings(tmp_path, aws, "aws-ssm", name))


def test_ssm_previous_key_by_parameter_version(aws: str, tmp_path: Path) -> None:
    """During a rotation the old key is simply the parameter's previous version."""
    name = unique("/sessionjwt/rotating")
    ssm = client(aws, "ssm")
    old, new = generate_master_key(), generate_master_key()
    ssm.put_parameter(Name=name, Value=old, Type="SecureString")
    ssm.put_parameter(Name=name, Value=new, Type="SecureString", Overwrite=True)
    settings = aws_settings(tmp_path, aws, "aws-ssm", name, master_key_previous=f"{name}:1")
    keys = load_master_keys(settings)
    assert keys.ids == tuple(master_key_id(base64.urlsafe_b64decode(k)) for k in (new, old))


# -- Secrets Manager ------------------------------------------------------------------------


async def test_secrets_manager_key_signs_and_checks_tokens(
    aws: str, tmp_path: Path, clock: ManualClock
) -> None:
    name = unique("sessionjwt/master")
    key = generate_master_key()
    client(aws, "secretsmanager").create_secret(Name=name, SecretString=key)
    settings = aws_settings(tmp_path, aws, "aws-secrets-manager", name)
    async with SessionJWT(settings, clock=clock) as auth:
        await login_and_check(auth)
        assert auth.master_keys is not None
        assert auth.master_keys.current_id == master_key_id(base64.urlsafe_b64decode(key))


def test_secrets_manager_missing_secret_is_named(aws: str, tmp_path: Path) -> None:
    name = unique("sessionjwt/absent")
    with pytest.raises(ConfigurationError, match=f"Secrets Manager secret {name}: not found"):
        load_master_keys(aws_settings(tmp_path, aws, "aws-secrets-manager", name))


def test_secrets_manager_wrong_size_key_is_refused(aws: str, tmp_path: Path) -> None:
    name = unique("sessionjwt/long")
    long = base64.urlsafe_b64encode(os.urandom(48)).decode()
    client(aws, "secretsmanager").create_secret(Name=name, SecretString=long)
    with pytest.raises(ConfigurationError, match="must hold 32 bytes, not 48") as refused:
        load_master_keys(aws_settings(tmp_path, aws, "aws-secrets-manager", name))
    assert long not in str(refused.value)


def test_secrets_manager_binary_secret_is_refused(aws: str, tmp_path: Path) -> None:
    name = unique("sessionjwt/binary")
    client(aws, "secretsmanager").create_secret(Name=name, SecretBinary=os.urandom(32))
    with pytest.raises(ConfigurationError, match="holds binary data"):
        load_master_keys(aws_settings(tmp_path, aws, "aws-secrets-manager", name))


def test_aws_without_credentials_says_so(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = aws_settings(tmp_path, moto_endpoint, "aws-ssm", "/sessionjwt/master")
    with pytest.raises(ConfigurationError, match="no AWS credentials found"):
        load_master_keys(settings)
