"""Who is calling: what the request check hands to application code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user behind a request, read from the session record, not the token."""

    user_id: str
    email: str
    roles: tuple[str, ...]
    session_id: str
    # Whether the account proved it reads mail at ``email`` (see email_verification).
    email_verified: bool = True
    # RFC 8176 methods the session proved at sign-in or since (``pwd``, ``otp``, ``hwk``,
    # ``fed``, ``mfa``...); empty where unknown (a token introspected elsewhere).
    amr: tuple[str, ...] = ()
    # Which credential the request presented: "session" (a sign-in's access token or cookie)
    # or "api_key" (a personal API key, docs/api-keys.md).
    credential: str = "session"
    # The credential's scopes (RFC 6749 §3.3). A session without scopes is full-access; an
    # API key (or a session a client asked scopes for) may do only what its scopes say.
    scopes: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        """Whether the credential is limited to its :attr:`scopes` (an API key always is)."""
        return self.credential != "session" or bool(self.scopes)

    def has_scopes(self, *required: str) -> bool:
        """Every one of ``required`` is granted (always, for a full-access session)."""
        return not self.restricted or all(scope in self.scopes for scope in required)

    @property
    def mfa(self) -> bool:
        """Whether the session proved more than one factor."""
        return "mfa" in self.amr

    def has_roles(self, *required: str) -> bool:
        return all(role in self.roles for role in required)
