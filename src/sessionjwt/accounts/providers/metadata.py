"""What a provider publishes: its endpoints (OpenID Connect discovery) and its signing keys
(JWKS, fetched again when a token names a key we do not hold, at most once a minute).

Network failures are :class:`~sessionjwt.errors.ProviderUnavailable` (503): a sign-in waits
for the provider, it never proceeds on a guess.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from sessionjwt.accounts.providers.config import ID_TOKEN_ALGORITHMS, ProviderConfig
from sessionjwt.errors import ConfigurationError, InvalidIdToken, ProviderUnavailable

JWKS_REFETCH_FLOOR_S = 60.0
MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Endpoints:
    issuer: str | None
    authorization: str
    token: str
    userinfo: str | None
    jwks_uri: str | None


class ProviderMetadata:
    """Endpoints and keys of one provider, loaded on first use and kept in memory."""

    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self._http = http
        self._endpoints: Endpoints | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            self._endpoints = await self._discover()
        return self._endpoints

    async def _discover(self) -> Endpoints:
        config = self.config
        document: dict[str, Any] = {}
        issuer = config.issuer_url
        if config.is_oidc and not (
            config.authorization_endpoint and config.token_endpoint and config.jwks_uri
        ):
            if issuer is None:
                raise ConfigurationError(f"provider {config.name}: no issuer to discover")
            document = await self.fetch_json(f"{issuer}/.well-known/openid-configuration")
            # OIDC Discovery §4.3: the document must name the issuer it was fetched for.
            if config.preset != "microsoft" and document.get("issuer") != issuer:
                raise ConfigurationError(
                    f"provider {config.name}: discovery names issuer "
                    f"{document.get('issuer')!r}, not {issuer!r}"
                )

        def pick(setting: str, key: str) -> str | None:
            value = config.endpoint(setting) or document.get(key)
            return value if isinstance(value, str) else None

        authorization = pick("authorization_endpoint", "authorization_endpoint")
        token = pick("token_endpoint", "token_endpoint")
        if authorization is None or token is None:
            raise ConfigurationError(f"provider {config.name}: no authorization/token endpoint")
        return Endpoints(
            issuer=issuer if config.is_oidc else None,
            authorization=authorization,
            token=token,
            userinfo=pick("userinfo_endpoint", "userinfo_endpoint"),
            jwks_uri=pick("jwks_uri", "jwks_uri"),
        )

    async def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The provider's key for ``kid``; refetches the JWKS once if it is unknown."""
        if alg not in ID_TOKEN_ALGORITHMS:
            raise InvalidIdToken(f"ID tokens signed with {alg!r} are refused.")
        key = self._find(kid, alg)
        if key is None:
            async with self._lock:
                key = self._find(kid, alg)
                if key is None and time.monotonic() - self._keys_fetched_at >= JWKS_REFETCH_FLOOR_S:
                    await self._fetch_keys()
                    key = self._find(kid, alg)
        if key is None:
            raise InvalidIdToken("The ID token was signed by a key the provider does not publish.")
        return key

    def _find(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        candidates = [key for key in self._keys.values() if key.algorithm_name == alg]
        return candidates[0] if len(candidates) == 1 else None

    async def _fetch_keys(self) -> None:
        endpoints = await self.endpoints()
        if endpoints.jwks_uri is None:
            raise ConfigurationError(f"provider {self.config.name}: no jwks_uri")
        document = await self.fetch_json(endpoints.jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            if entry.get("kty") == "oct":
                continue  # a symmetric key in a JWKS is never an ID-token key for us
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # an algorithm we cannot use; others may still be fine
            keys[str(entry.get("kid", ""))] = key
        self._keys = keys
        self._keys_fetched_at = time.monotonic()

    async def fetch_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        body = await self._fetch(url, **kwargs)
        if not isinstance(body, dict):
            raise ProviderUnavailable()
        return body

    async def fetch_json_list(self, url: str, **kwargs: Any) -> list[Any]:
        body = await self._fetch(url, **kwargs)
        if not isinstance(body, list):
            raise ProviderUnavailable()
        return body

    async def _fetch(self, url: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.get(url, **kwargs)
        except httpx.HTTPError as error:
            raise ProviderUnavailable() from error
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise ProviderUnavailable()
        try:
            return json.loads(response.content)
        except ValueError as error:
            raise ProviderUnavailable() from error
