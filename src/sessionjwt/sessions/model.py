"""What a session and its user look like to the request check: plain values, times as floats.

Floats (epoch seconds) rather than datetimes because these are compared on every request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionjwt.errors import AccountDisabled, SessionExpired, SessionJWTError, SessionRevoked

SESSION_KIND = "session"  # a sign-in: password, provider, passkey
API_KEY_KIND = "api_key"  # a personal API key (docs/api-keys.md)
CLIENT_KIND = "client"  # a service client's client-credentials grant (docs/service-clients.md)


@dataclass(slots=True)
class SessionRecord:
    id: str
    user_id: str
    created_at: float
    authenticated_at: float
    user_generation: int
    last_seen_at: float
    expires_at: float
    idle_timeout: float
    revoked_at: float | None
    revoked_reason: str | None
    user_agent: str | None
    ip: str | None
    refresh_hash: str
    refresh_generation: int
    refresh_rotated_at: float | None
    deployment_generation: int = 0
    amr: str = "pwd"  # RFC 8176, space-separated: "pwd", "pwd otp mfa", "hwk user mfa", "fed"
    idp: str | None = None  # the identity provider, for a provider sign-in
    identity_id: str | None = None  # the linked identity it signed in with
    idp_sid: str | None = None  # the provider's session id, for its back-channel logout
    mfa_at: float | None = None  # when it last proved a second factor (sign-in or step-up)
    kind: str = "session"  # SESSION_KIND, API_KEY_KIND or CLIENT_KIND
    name: str | None = None  # an API key's name, chosen by its owner
    scopes: str | None = None  # space-separated (RFC 6749 §3.3); None: no restriction
    key_prefix: str | None = None  # an API key's first characters, for listings
    key_hash: str | None = None  # SHA-256 of an API key's secret

    @property
    def scope_values(self) -> tuple[str, ...]:
        return tuple(self.scopes.split()) if self.scopes else ()

    @property
    def methods(self) -> tuple[str, ...]:
        """The ``amr`` values, in the order proven."""
        return tuple(self.amr.split())


@dataclass(slots=True)
class UserState:
    """The user fields that decide whether their sessions live; mutated in place on local writes."""

    id: str
    email: str
    roles: tuple[str, ...]
    disabled: bool
    session_generation: int
    # Deployment-wide, loaded with the user: an emergency rotation moves it past every
    # existing session's ``deployment_generation``.
    deployment_generation: int = 0
    email_verified: bool = True  # users.email_verified_at is set
    stale: bool = False  # set when another process changed this user: reload before trusting


def liveness_error(session: SessionRecord, user: UserState, now: float) -> SessionJWTError | None:
    """Why this session may not be used at ``now``, or None if it is live."""
    if session.revoked_at is not None:
        return SessionRevoked()
    if session.deployment_generation != user.deployment_generation:
        return SessionRevoked("Every session was ended by an emergency key rotation.")
    if user.disabled:
        return AccountDisabled()
    if session.user_generation != user.session_generation:
        return SessionRevoked("Every session of this account was signed out.")
    if now >= session.expires_at:
        return SessionExpired()
    if now >= session.last_seen_at + session.idle_timeout:
        return SessionExpired("The session expired after a period of inactivity; sign in again.")
    return None
