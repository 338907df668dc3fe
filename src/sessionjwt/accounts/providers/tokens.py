"""The provider's own tokens, kept for the application when a provider is ``keep_tokens``.

What is kept is what the application needs to call the provider's API on the person's behalf:
the access token, its type, expiry and scope, and the refresh token if the provider issued one.
Not the ID token: it has served its one purpose (who signed in) once verified, and it is no
credential at the provider.

They are stored as JSON wrapped under the master key (AES-GCM, like a signing key), with
``identity:<identity id>`` as associated data, so a blob copied to another identity's row
does not open there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sessionjwt.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class ProviderTokens:
    """The token response of the provider's latest sign-in or link for one identity."""

    access_token: str = field(repr=False)
    token_type: str
    refresh_token: str | None = field(default=None, repr=False)
    # Seconds since the epoch on the service's clock (from the response's expires_in);
    # None when the provider did not say (GitHub's OAuth-app tokens do not expire).
    expires_at: float | None = None
    scope: str | None = None  # as the provider wrote it (GitHub: comma-separated)
    obtained_at: float = 0.0

    @classmethod
    def from_grant(cls, grant: dict[str, Any], now: float) -> ProviderTokens | None:
        """From a token endpoint's JSON answer; None if it holds no access token."""
        access_token = grant.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            return None
        expires_in = grant.get("expires_in")
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)  # some providers send the number as a string
        refresh_token, scope = grant.get("refresh_token"), grant.get("scope")
        token_type = grant.get("token_type")
        return cls(
            access_token=access_token,
            token_type=token_type if isinstance(token_type, str) else "Bearer",
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            expires_at=(
                now + float(expires_in)
                if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
                else None
            ),
            scope=scope if isinstance(scope, str) else None,
            obtained_at=now,
        )

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "access_token": self.access_token,
                "token_type": self.token_type,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "scope": self.scope,
                "obtained_at": self.obtained_at,
            },
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> ProviderTokens:
        try:
            values = json.loads(raw)
            return cls(
                access_token=str(values["access_token"]),
                token_type=str(values["token_type"]),
                refresh_token=values.get("refresh_token"),
                expires_at=values.get("expires_at"),
                scope=values.get("scope"),
                obtained_at=float(values.get("obtained_at", 0.0)),
            )
        except (ValueError, KeyError, TypeError):
            raise ConfigurationError(f"provider tokens {where} are not readable") from None
