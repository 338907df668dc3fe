"""What the two AWS sources share: a boto3 client and one translation of AWS errors.

Credentials and region come from boto3's usual chain (environment, shared config, instance
or task role); ``region`` and ``endpoint_url`` override it (the endpoint is for tests and
VPC endpoints).
"""

from __future__ import annotations

from typing import Any

from sessionjwt.errors import ConfigurationError


def aws_client(service: str, *, region: str | None, endpoint_url: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise ConfigurationError(
            f"the AWS master-key sources need boto3: pip install 'sessionjwt[aws]' ({service})"
        ) from None
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3})
    try:
        return boto3.session.Session().client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )
    except BotoCoreError as error:
        raise aws_error(f"AWS {service} client", error, set()) from None


def aws_error(where: str, error: Exception, not_found: set[str]) -> ConfigurationError:
    """A readable :class:`ConfigurationError` for a failed read; AWS errors carry no secret."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "unknown"))
        if code in not_found:
            return ConfigurationError(f"{where}: not found")
        return ConfigurationError(f"{where}: AWS refused the read ({code})")
    if isinstance(error, NoCredentialsError):
        return ConfigurationError(f"{where}: no AWS credentials found")
    if isinstance(error, NoRegionError):
        return ConfigurationError(
            f"{where}: no AWS region: set SESSIONJWT_MASTER_KEY_AWS_REGION or AWS_REGION"
        )
    return ConfigurationError(f"{where}: {type(error).__name__}")
