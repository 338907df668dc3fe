"""HashiCorp Vault, KV version 2, through ``hvac`` (extra: ``sessionjwt[vault]``).

The address and token follow Vault's own conventions: ``VAULT_ADDR`` (or the setting
``master_key_vault_url``), ``VAULT_TOKEN`` (or ``~/.vault-token``, as hvac reads it),
``VAULT_NAMESPACE`` and ``VAULT_CACERT``. TLS verification cannot be switched off here.

A reference is a path inside the mount, optionally pinned to a KV version with ``@N``
(``sessionjwt/master@3``): KV v2 keeps old versions, which makes the previous master key easy
to name during a rotation.
"""

from __future__ import annotations

import os
import re
from typing import Any

from sessionjwt.errors import ConfigurationError
from sessionjwt.keys.master.keyset import parse_master_key

_VERSIONED = re.compile(r"(?P<path>.+)@(?P<version>[0-9]+)")


class VaultSource:
    def __init__(
        self,
        *,
        url: str | None,
        mount: str,
        field: str,
        environ: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        environ = dict(os.environ) if environ is None else environ
        self._url = url or environ.get("VAULT_ADDR")
        if not self._url:
            raise ConfigurationError(
                "SESSIONJWT_MASTER_KEY_SOURCE=vault needs the Vault address: set VAULT_ADDR "
                "or SESSIONJWT_MASTER_KEY_VAULT_URL"
            )
        self._mount = mount
        self._field = field
        self._client = _client(self._url, environ, timeout)

    def load(self, reference: str) -> bytes:
        from hvac.exceptions import Forbidden, InvalidPath, Unauthorized, VaultError
        from requests.exceptions import RequestException

        path, version = _split_version(reference)
        where = f"Vault {self._mount}/{reference}"
        try:
            response = self._client.secrets.kv.v2.read_secret_version(
                path=path, version=version, mount_point=self._mount, raise_on_deleted_version=True
            )
        except InvalidPath:
            raise ConfigurationError(
                f"{where}: no such secret (or that version is deleted)"
            ) from None
        except (Forbidden, Unauthorized):
            raise ConfigurationError(
                f"{where}: permission denied (check VAULT_TOKEN and its policy)"
            ) from None
        except VaultError as error:
            raise ConfigurationError(f"{where}: Vault answered {type(error).__name__}") from None
        except RequestException as error:
            raise ConfigurationError(
                f"cannot reach Vault at {self._url}: {type(error).__name__}"
            ) from None
        value = _field(response, self._field)
        if value is None:
            raise ConfigurationError(f"{where} has no string field {self._field!r}")
        return parse_master_key(value, where)


def _client(url: str, environ: dict[str, str], timeout: float) -> Any:
    try:
        import hvac
    except ImportError:
        raise ConfigurationError(
            "SESSIONJWT_MASTER_KEY_SOURCE=vault needs hvac: pip install 'sessionjwt[vault]'"
        ) from None
    client = hvac.Client(
        url=url,
        token=environ.get("VAULT_TOKEN"),
        namespace=environ.get("VAULT_NAMESPACE"),
        verify=environ.get("VAULT_CACERT") or True,
        timeout=timeout,
    )
    if not client.token:
        raise ConfigurationError(
            "SESSIONJWT_MASTER_KEY_SOURCE=vault needs a token: set VAULT_TOKEN"
        )
    return client


def _split_version(reference: str) -> tuple[str, int | None]:
    match = _VERSIONED.fullmatch(reference)
    if match is None:
        return reference, None
    return match.group("path"), int(match.group("version"))


def _field(response: object, name: str) -> str | None:
    """``response["data"]["data"][name]``: the KV v2 read shape, checked at every level."""
    data = response.get("data") if isinstance(response, dict) else None
    secret = data.get("data") if isinstance(data, dict) else None
    value = secret.get(name) if isinstance(secret, dict) else None
    return value if isinstance(value, str) else None
