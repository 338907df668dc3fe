"""Settings → the configured source → :class:`MasterKeys` (current + previous)."""

from __future__ import annotations

import logging

from sessionjwt.errors import ConfigurationError
from sessionjwt.keys.master.env import ENV_SOURCE_WARNING, EnvSource
from sessionjwt.keys.master.file import FileSource
from sessionjwt.keys.master.keyset import MasterKeys
from sessionjwt.keys.master.source import MasterKeySource
from sessionjwt.settings import Settings

logger = logging.getLogger("sessionjwt")


def build_source(settings: Settings) -> tuple[MasterKeySource, str]:
    """The configured source and the reference of the current key in it."""
    name = settings.master_key_source
    if name == "file":
        path = settings.resolved_master_key_file
        return FileSource(create=path), str(path)
    if name == "env":
        return EnvSource(), settings.master_key_env_var
    if name == "vault":
        from sessionjwt.keys.master.vault import VaultSource

        source = VaultSource(
            url=settings.master_key_vault_url,
            mount=settings.master_key_vault_mount,
            field=settings.master_key_vault_field,
        )
        return source, _required(settings.master_key_vault_path, "master_key_vault_path")
    reference = _required(settings.master_key_aws_name, "master_key_aws_name")
    region, endpoint = settings.master_key_aws_region, settings.master_key_aws_endpoint_url
    if name == "aws-ssm":
        from sessionjwt.keys.master.aws_ssm import SsmSource

        return SsmSource(region=region, endpoint_url=endpoint), reference
    from sessionjwt.keys.master.aws_secrets_manager import SecretsManagerSource

    return SecretsManagerSource(region=region, endpoint_url=endpoint), reference


def load_master_keys(settings: Settings) -> MasterKeys:
    """Read every configured key (blocking I/O: call from a thread in async code).

    With the ``env`` source this logs :data:`ENV_SOURCE_WARNING` on every call, so that no
    start-up of a development set-up that reached production goes unnoticed.
    """
    if settings.master_key_source == "env":
        logger.warning(ENV_SOURCE_WARNING)
    source, current = build_source(settings)
    return MasterKeys(
        current=source.load(current),
        previous=tuple(source.load(reference) for reference in settings.master_key_previous),
    )


def _required(value: str | None, setting: str) -> str:
    if not value:  # the settings validator normally catches this first
        raise ConfigurationError(f"SESSIONJWT_{setting.upper()} is not set")
    return value
