"""One configured identity provider, checked at start-up, and the presets that fill in what a
well-known provider's documentation fixes (endpoints, issuer, how the e-mail is asserted).

Presets, from the providers' own documentation:

* ``google`` — OpenID Connect, issuer ``https://accounts.google.com`` (discovery at
  ``/.well-known/openid-configuration``); ``email`` and ``email_verified`` in the ID token.
* ``microsoft`` — Microsoft identity platform v2.0: issuer
  ``https://login.microsoftonline.com/{tenant}/v2.0``. For the multi-tenant ``common`` /
  ``organizations`` / ``consumers`` endpoints the ID token's ``iss`` names the user's tenant
  (``.../{tid}/v2.0``), so ``iss`` is checked against the template with the token's ``tid``.
  Entra does not assert ``email_verified``: keep ``trust_email`` off unless your tenant
  guarantees it.
* ``github`` — OAuth 2.0, not OpenID Connect: authorize ``https://github.com/login/oauth/authorize``,
  token ``https://github.com/login/oauth/access_token`` (``client_id`` and ``client_secret`` as
  form parameters), user ``https://api.github.com/user`` and verified addresses from
  ``https://api.github.com/user/emails`` (scope ``user:email``). No ID token, so no nonce and no
  back-channel logout.
* ``oidc`` — any OpenID Connect provider, by discovery from ``issuer``.
* ``oauth2`` — a plain OAuth 2.0 provider with a userinfo endpoint: every endpoint explicit.

Every endpoint may be overridden (tests point the presets at a local provider).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sessionjwt.errors import ConfigurationError

Preset = Literal["oidc", "google", "microsoft", "github", "oauth2"]
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# Signature algorithms an ID token may use. Never "none", never HS*: a token "signed" with
# our client secret could be forged by anyone who learns it (algorithm confusion).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                       "ES512", "EdDSA")  # fmt: skip

GOOGLE_ISSUER = "https://accounts.google.com"
MICROSOFT_ISSUER = "https://login.microsoftonline.com/{tenant}/v2.0"
# Microsoft's endpoints for users of many tenants: a token's iss names the user's own tenant.
MICROSOFT_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
GITHUB = {
    "authorization_endpoint": "https://github.com/login/oauth/authorize",
    "token_endpoint": "https://github.com/login/oauth/access_token",
    "userinfo_endpoint": "https://api.github.com/user",
    "emails_endpoint": "https://api.github.com/user/emails",
}


class ProviderConfig(BaseModel):
    """One entry of ``SESSIONJWT_PROVIDERS``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    display_name: str | None = None
    preset: Preset = "oidc"
    issuer: str | None = None
    tenant: str = "common"  # microsoft only
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    emails_endpoint: str | None = None  # github only
    jwks_uri: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: str | None = Field(default=None, repr=False)
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    # None: the preset's (GitHub documents client_id and client_secret as form parameters of
    # its token request; everyone else takes RFC 6749's HTTP Basic).
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = None
    scopes: tuple[str, ...] | None = None
    # Link a first sign-in to an existing account with the same address only when the
    # provider says it verified the address *and* you trust it to say so.
    trust_email: bool = False
    # More client ids whose ID tokens POST /auth/providers/{name}/id-token accepts (mobile
    # and single-page apps registered separately at the provider).
    audiences: tuple[str, ...] = ()
    # Keep the provider's own tokens (access, refresh) after each sign-in or link, wrapped
    # under the master key, for the application to call the provider's API with. Off: none
    # is ever stored, and any kept earlier is dropped at the identity's next sign-in.
    keep_tokens: bool = False

    @model_validator(mode="after")
    def _complete(self) -> ProviderConfig:
        if self.preset == "oidc" and not self.issuer:
            raise ValueError("an OpenID Connect provider needs its issuer")
        if self.preset == "oauth2" and not (
            self.authorization_endpoint and self.token_endpoint and self.userinfo_endpoint
        ):
            raise ValueError(
                "an OAuth 2.0 provider needs authorization_endpoint, token_endpoint and "
                "userinfo_endpoint"
            )
        for url in (self.issuer, self.authorization_endpoint, self.token_endpoint,
                    self.userinfo_endpoint, self.emails_endpoint, self.jwks_uri):  # fmt: skip
            if url is not None:
                _require_https(url)
        sources = [self.client_secret, self.client_secret_env, self.client_secret_file]
        if sum(source is not None for source in sources) > 1:
            raise ValueError("give the client secret one way: client_secret_env, _file or inline")
        return self

    @property
    def title(self) -> str:
        return self.display_name or self.name.replace("-", " ").title()

    @property
    def is_oidc(self) -> bool:
        return self.preset in ("oidc", "google", "microsoft")

    @property
    def issuer_url(self) -> str | None:
        """The issuer to discover and to expect (Microsoft: with ``{tid}`` left to fill in)."""
        if self.issuer:
            return self.issuer.rstrip("/")
        if self.preset == "google":
            return GOOGLE_ISSUER
        if self.preset == "microsoft":
            return MICROSOFT_ISSUER.replace("{tenant}", self.tenant)
        return None

    @property
    def tenant_issuer_template(self) -> str | None:
        """For Microsoft's multi-tenant endpoints, the issuer every token must name, with
        ``{tenant}`` to be filled from the token's own ``tid``; None for everyone else."""
        if (
            self.preset == "microsoft"
            and self.issuer is None
            and self.tenant in MICROSOFT_MULTI_TENANT
        ):
            return MICROSOFT_ISSUER
        return None

    @property
    def token_auth_method(self) -> str:
        if self.token_endpoint_auth_method is not None:
            return self.token_endpoint_auth_method
        if self.preset == "github":
            return "client_secret_post"
        return "client_secret_basic"

    @property
    def requested_scopes(self) -> tuple[str, ...]:
        if self.scopes is not None:
            return self.scopes
        if self.preset == "github":
            return ("read:user", "user:email")
        if self.preset == "oauth2":
            return ("email",)
        return ("openid", "email", "profile")

    def endpoint(self, name: str) -> str | None:
        explicit: str | None = getattr(self, name)
        if explicit is not None:
            return explicit
        return GITHUB.get(name) if self.preset == "github" else None

    def secret(self) -> str | None:
        """The client secret, read when needed (an env var or file, like the master key)."""
        if self.client_secret_env is not None:
            value = os.environ.get(self.client_secret_env)
            if not value:
                raise ConfigurationError(
                    f"provider {self.name}: {self.client_secret_env} is not set"
                )
            return value
        if self.client_secret_file is not None:
            try:
                return self.client_secret_file.read_text("utf-8").strip()
            except OSError as error:
                raise ConfigurationError(
                    f"provider {self.name}: cannot read {self.client_secret_file}"
                ) from error
        return self.client_secret


def _require_https(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return
    raise ValueError(f"{url!r} must be https (plain http only on loopback)")


def parse_providers(raw: list[dict[str, Any]]) -> dict[str, ProviderConfig]:
    """``SESSIONJWT_PROVIDERS`` → providers by name, or one readable ConfigurationError."""
    providers: dict[str, ProviderConfig] = {}
    for index, entry in enumerate(raw):
        try:
            provider = ProviderConfig.model_validate(entry)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'entry'}: {item['msg']}"
                for item in error.errors(include_input=False)
            )
            raise ConfigurationError(f"SESSIONJWT_PROVIDERS[{index}]: {problems}") from None
        if provider.name in providers:
            raise ConfigurationError(f"SESSIONJWT_PROVIDERS: {provider.name!r} appears twice")
        providers[provider.name] = provider
    return providers
