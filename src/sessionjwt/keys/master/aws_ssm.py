"""AWS Systems Manager Parameter Store, ``SecureString`` only (extra: ``sessionjwt[aws]``).

A plain ``String`` parameter is refused: it is stored unencrypted and shown in the console.
A reference is a parameter name; SSM's own ``name:VERSION`` selects an older version.
"""

from __future__ import annotations

from typing import Any

from sessionjwt.errors import ConfigurationError
from sessionjwt.keys.master.aws import aws_client, aws_error
from sessionjwt.keys.master.keyset import parse_master_key

SERVICE = "ssm"


class SsmSource:
    def __init__(self, *, region: str | None, endpoint_url: str | None) -> None:
        self._client: Any = aws_client(SERVICE, region=region, endpoint_url=endpoint_url)

    def load(self, reference: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"SSM parameter {reference}"
        try:
            parameter = self._client.get_parameter(Name=reference, WithDecryption=True)
        except (BotoCoreError, ClientError) as error:
            raise aws_error(
                where, error, {"ParameterNotFound", "ParameterVersionNotFound"}
            ) from None
        if parameter["Parameter"].get("Type") != "SecureString":
            raise ConfigurationError(f"{where} must be a SecureString (it is stored in clear)")
        return parse_master_key(parameter["Parameter"]["Value"], where)
