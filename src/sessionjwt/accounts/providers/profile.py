"""Who the provider says signed in: its stable subject, and an address with whether the
provider verified it — from an ID token, or from an OAuth 2.0 provider's user API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sessionjwt.accounts.providers.config import ProviderConfig
from sessionjwt.accounts.providers.metadata import ProviderMetadata
from sessionjwt.errors import ProviderDenied


@dataclass(frozen=True, slots=True)
class Profile:
    subject: str
    email: str | None
    email_verified: bool
    sid: str | None = None  # the provider's session, for its back-channel logout


def _verified(value: object) -> bool:
    # Some providers send the JSON string "true"; anything else is "not verified".
    return value is True or value == "true"


def profile_from_claims(claims: dict[str, Any]) -> Profile:
    email = claims.get("email")
    sid = claims.get("sid")
    return Profile(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        email_verified=_verified(claims.get("email_verified")),
        sid=sid if isinstance(sid, str) else None,
    )


async def profile_from_api(
    config: ProviderConfig, metadata: ProviderMetadata, access_token: str
) -> Profile:
    """GitHub's ``/user`` (+ ``/user/emails``) or a generic userinfo endpoint."""
    endpoints = await metadata.endpoints()
    if endpoints.userinfo is None:
        raise ProviderDenied("The identity provider has no user endpoint.")
    # GitHub's REST API asks for its own media type (plain JSON works too).
    accept = "application/vnd.github+json" if config.preset == "github" else "application/json"
    headers = {"Authorization": f"Bearer {access_token}", "Accept": accept}
    user = await metadata.fetch_json(endpoints.userinfo, headers=headers)
    subject = user.get("sub", user.get("id"))
    if not isinstance(subject, str | int) or isinstance(subject, bool) or subject == "":
        raise ProviderDenied("The identity provider did not say who signed in.")
    if config.preset == "github":
        return await _github_profile(config, metadata, str(subject), headers)
    email = user.get("email")
    return Profile(
        subject=str(subject),
        email=email if isinstance(email, str) and email else None,
        email_verified=_verified(user.get("email_verified")),
    )


async def _github_profile(
    config: ProviderConfig, metadata: ProviderMetadata, subject: str, headers: dict[str, str]
) -> Profile:
    """GitHub's ``/user`` shows at most a public address; the verified primary one is in
    ``/user/emails`` (scope ``user:email``)."""
    emails_url = config.endpoint("emails_endpoint")
    if emails_url is None:
        return Profile(subject=subject, email=None, email_verified=False)
    body = await metadata.fetch_json_list(emails_url, headers=headers)
    for entry in body:
        if isinstance(entry, dict) and entry.get("primary") and isinstance(entry.get("email"), str):
            return Profile(
                subject=subject, email=entry["email"], email_verified=entry.get("verified") is True
            )
    return Profile(subject=subject, email=None, email_verified=False)
