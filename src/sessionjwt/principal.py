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

    def has_roles(self, *required: str) -> bool:
        return all(role in self.roles for role in required)
