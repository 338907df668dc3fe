"""Development only: the key in an environment variable.

Environment variables leak: into ``/proc/<pid>/environ``, crash reports, child processes,
``docker inspect`` and CI logs. So this source works, but every start-up says loudly that it
must not be used in production; prefer a file with mode 0600 or a secret manager.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sessionjwt.errors import ConfigurationError
from sessionjwt.keys.master.keyset import parse_master_key

ENV_SOURCE_WARNING = (
    "INSECURE: the master key comes from an environment variable "
    "(SESSIONJWT_MASTER_KEY_SOURCE=env). This is for development only: environment variables "
    "leak into process listings, crash reports and child processes. In production use a file "
    "(mode 0600), Vault, AWS SSM or AWS Secrets Manager."
)


class EnvSource:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def load(self, reference: str) -> bytes:
        value = self._environ.get(reference)
        if not value:
            raise ConfigurationError(f"environment variable {reference} is not set")
        return parse_master_key(value, f"environment variable {reference}")
