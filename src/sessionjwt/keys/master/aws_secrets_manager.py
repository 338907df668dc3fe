"""AWS Secrets Manager (extra: ``sessionjwt[aws]``): the secret's text is the base64url key.

A reference is a secret name or ARN; the ``AWSCURRENT`` version is read.
"""

from __future__ import annotations

from typing import Any

from sessionjwt.errors import ConfigurationError
from sessionjwt.keys.master.aws import aws_client, aws_error
from sessionjwt.keys.master.keyset import parse_master_key

SERVICE = "secretsmanager"


class SecretsManagerSource:
    def __init__(self, *, region: str | None, endpoint_url: str | None) -> None:
        self._client: Any = aws_client(SERVICE, region=region, endpoint_url=endpoint_url)

    def load(self, reference: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"Secrets Manager secret {reference}"
        try:
            secret = self._client.get_secret_value(SecretId=reference)
        except (BotoCoreError, ClientError) as error:
            raise aws_error(where, error, {"ResourceNotFoundException"}) from None
        value = secret.get("SecretString")
        if not isinstance(value, str):
            raise ConfigurationError(f"{where} holds binary data; store the key as text")
        return parse_master_key(value, where)
