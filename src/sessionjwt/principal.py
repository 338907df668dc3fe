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

    @property
    def mfa(self) -> bool:
        """Whether the session proved more than one factor."""
        return "mfa" in self.amr

    def has_roles(self, *required: str) -> bool:
        return all(role in self.roles for role in required)
