"""One exception tree, each class carrying its machine-readable code.

The HTTP edge maps every :class:`SessionJWTError` to ``{"error": code, "message": text}``
with the class's status. :class:`ConfigurationError` deliberately sits *outside* the tree:
catching a bad token must never hide a broken key or setting.
"""

from __future__ import annotations


class SessionJWTError(Exception):
    """Root of every refusal sessionjwt reports to a caller."""

    code: str = "error"
    status: int = 400
    default_message: str = "The request was refused."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class AuthenticationError(SessionJWTError):
    """401: the caller is not (or no longer) authenticated."""

    status = 401
    code = "invalid_token"


class MissingToken(AuthenticationError):
    code = "missing_token"
    default_message = "No bearer token was presented."


class InvalidToken(AuthenticationError):
    code = "invalid_token"
    default_message = "The token is malformed, forged or not meant for this service."


class UnknownSigningKey(InvalidToken):
    """A kid this instance does not know (yet): the caller may reload the ring once."""

    default_message = "token was signed by an unknown key"


class TokenExpired(AuthenticationError):
    code = "token_expired"
    default_message = "The access token has expired; refresh it."


class SessionRevoked(AuthenticationError):
    code = "session_revoked"
    default_message = "The session behind this token was signed out."


class SessionExpired(AuthenticationError):
    code = "session_expired"
    default_message = "The session behind this token has expired; sign in again."


class AccountDisabled(AuthenticationError):
    code = "account_disabled"
    default_message = "The account is disabled."


class InvalidCredentials(AuthenticationError):
    code = "invalid_credentials"
    default_message = "The email or password is incorrect."


class RefreshTokenReused(AuthenticationError):
    code = "refresh_token_reused"
    default_message = (
        "This refresh token was already used; the session has been revoked to protect the account."
    )


class KeyRetired(AuthenticationError):
    code = "key_retired"
    default_message = "The token was signed by a retired key; sign in again."


class InsufficientRole(SessionJWTError):
    status = 403
    code = "insufficient_role"
    default_message = "The account lacks a role this operation requires."


class InsufficientScope(SessionJWTError):
    """403 (RFC 6750 §3.1): the credential (an API key, or a session a client asked scopes
    for) lacks a scope this operation requires; ``scopes`` are the ones it needs."""

    status = 403
    code = "insufficient_scope"
    default_message = "The credential lacks a scope this operation requires."

    def __init__(self, message: str | None = None, *, scopes: tuple[str, ...] = ()) -> None:
        self.scopes = scopes
        if message is None and scopes:
            message = f"The credential lacks the scope {' '.join(scopes)!r}."
        super().__init__(message)


class SessionRequired(SessionJWTError):
    """403: an operation only a signed-in person may do (creating an API key), presented
    with an API key."""

    status = 403
    code = "session_required"
    default_message = "This operation needs a signed-in session, not an API key."


class CsrfRefused(SessionJWTError):
    """403: a cookie-authenticated unsafe request that did not come from our own pages."""

    status = 403
    code = "csrf_failed"
    default_message = "Cross-site request refused: the request did not come from this site."


class ReauthenticationRequired(SessionJWTError):
    """403: a sensitive action needs the password again (ASVS 7.5.1)."""

    status = 403
    code = "reauthentication_required"
    default_message = "Confirm your password to continue: your last sign-in is too old."

    def __init__(self, message: str | None = None, *, second_factor: bool = False) -> None:
        if second_factor and message is None:
            message = "Confirm with your second factor to continue: your last proof is too old."
        super().__init__(message)
        self.second_factor = second_factor


class EmailNotVerified(SessionJWTError):
    """403, with ``email_verification=required``: the password was right, but the account has
    not proved its address yet. Not a 401: the credentials are fine and retrying them cannot
    help; only following the mailed link (or requesting a new one) can. Raised only after the
    password matched, so it tells nothing to someone who does not know it."""

    status = 403
    code = "email_not_verified"
    default_message = (
        "Confirm your email address first: follow the link we mailed you, or request a new one."
    )


class SessionNotFound(SessionJWTError):
    status = 404
    code = "session_not_found"
    default_message = "No such session for this account."


class UserNotFound(SessionJWTError):
    status = 404
    code = "user_not_found"
    default_message = "No such user."


class EmailTaken(SessionJWTError):
    status = 409
    code = "email_taken"
    default_message = "An account with this email already exists."


class InvalidEmail(SessionJWTError):
    status = 422
    code = "invalid_email"
    default_message = "The email address is not valid."


class WeakPassword(SessionJWTError):
    status = 422
    code = "weak_password"
    default_message = "The password does not meet the password policy."


class InvalidResetToken(SessionJWTError):
    """400: one answer for an unknown, expired, used or superseded reset token."""

    status = 400
    code = "invalid_reset_token"
    default_message = "This password-reset link is invalid or has expired; request a new one."


class InvalidVerificationToken(SessionJWTError):
    """400: one answer for an unknown, expired, used, superseded or someone else's link
    proving an address (verification or e-mail change)."""

    status = 400
    code = "invalid_verification_token"
    default_message = "This confirmation link is invalid or has expired; request a new one."


class RateLimited(SessionJWTError):
    status = 429
    code = "rate_limited"
    default_message = "Too many attempts; retry later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class RequestTooLarge(SessionJWTError):
    """413: a body over its route's limit, refused before it is parsed (or read in full)."""

    status = 413
    code = "request_too_large"
    default_message = "The request body is larger than this endpoint accepts."


class RequestHeadersTooLarge(SessionJWTError):
    """431 (RFC 6585): more header bytes, or more headers, than the service accepts."""

    status = 431
    code = "request_headers_too_large"
    default_message = "The request headers are larger, or more numerous, than this service accepts."


class StoreUnavailable(SessionJWTError):
    """503: the decision needs the store and the store cannot answer. Never a 401."""

    status = 503
    code = "store_unavailable"
    default_message = "The session store is unavailable; retry shortly."


class KeyOperationRefused(SessionJWTError):
    """409: a key-ring operation that would break the ring (retire the signer, unknown kid)."""

    status = 409
    code = "key_operation_refused"
    default_message = "That key operation is not possible now."


class OAuthError(SessionJWTError):
    """A refusal at the OAuth endpoints (RFC 7009, RFC 7662), rendered there in the RFC 6749
    §5.2 shape ``{"error": code, "error_description": text}``."""

    code = "invalid_request"
    default_message = "The request is malformed."


class InvalidRequest(OAuthError):
    code = "invalid_request"
    default_message = "The request is missing a parameter or repeats one."


class InvalidClient(OAuthError):
    """401: client authentication failed (unknown client, wrong secret, deleted client, or no
    credentials where they are required). One message for all: never say which."""

    status = 401
    code = "invalid_client"
    default_message = "Client authentication failed."


class UnsupportedGrantType(OAuthError):
    """400 at ``/oauth/token``: a ``grant_type`` this server does not implement."""

    code = "unsupported_grant_type"
    default_message = "Use grant_type client_credentials or refresh_token."


class UnauthorizedClient(OAuthError):
    """400 at ``/oauth/token``: a genuine client not registered for this grant."""

    code = "unauthorized_client"
    default_message = "This client may not use the client-credentials grant."


class InvalidScope(OAuthError):
    """400 (RFC 6749 §5.2): a requested scope the client was not registered for, or a
    malformed ``scope``."""

    code = "invalid_scope"
    default_message = "The requested scope is not allowed for this client."


class InvalidGrant(OAuthError):
    """400 at ``/oauth/token``: the refresh token is unknown, expired, revoked or reused."""

    code = "invalid_grant"
    default_message = "The refresh token is not valid."


class InvalidClientName(SessionJWTError):
    status = 422
    code = "invalid_client_name"
    default_message = "A client name is 1 to 200 characters."


class InvalidClientScopes(SessionJWTError):
    """422 at registration: scopes that are not RFC 6749 scope-tokens, or scopes for a client
    that may not use the client-credentials grant."""

    status = 422
    code = "invalid_client_scopes"
    default_message = (
        "A client's scopes are RFC 6749 scope-tokens, for the client-credentials grant."
    )


class ApiKeyNotFound(SessionNotFound):
    code = "api_key_not_found"
    default_message = "No such API key for this account."


class InvalidApiKeyRequest(SessionJWTError):
    status = 422
    code = "invalid_api_key_request"
    default_message = "An API key needs a name (1 to 64 characters), valid scopes and a lifetime."


class InvalidAuditQuery(SessionJWTError):
    status = 422
    code = "invalid_audit_query"
    default_message = "The audit query is not valid."


class ClientNotFound(SessionJWTError):
    status = 404
    code = "client_not_found"
    default_message = "No such client."


# -- sign-in with an identity provider (docs/providers.md) --------------------------------


class UnknownProvider(SessionJWTError):
    status = 404
    code = "unknown_provider"
    default_message = "No identity provider of that name is configured."


class ProviderDenied(SessionJWTError):
    """The provider answered the authorization request with an error (the user said no)."""

    status = 401
    code = "provider_denied"
    default_message = "The identity provider did not sign you in."


class InvalidProviderState(SessionJWTError):
    """A callback whose ``state`` is unknown, used, expired, or started in another browser."""

    status = 400
    code = "invalid_state"
    default_message = "This sign-in link is invalid or was already used; start again."


class InvalidIdToken(SessionJWTError):
    """An ID or logout token that fails verification (signature, iss, aud, azp, exp, nonce)."""

    status = 401
    code = "invalid_id_token"
    default_message = "The identity provider's token could not be verified."


class ProviderUnavailable(SessionJWTError):
    status = 503
    code = "provider_unavailable"
    default_message = "The identity provider cannot be reached; retry shortly."


class AccountExists(SessionJWTError):
    """First sign-in with a provider whose address matches an account it may not take over."""

    status = 409
    code = "account_exists"
    default_message = (
        "An account with this email already exists: sign in to it first, then connect this "
        "provider from the Security page."
    )


class ProviderEmailUnverified(SessionJWTError):
    status = 403
    code = "provider_email_unverified"
    default_message = "The identity provider did not verify an email address for this account."


class IdentityTaken(SessionJWTError):
    status = 409
    code = "identity_taken"
    default_message = "This provider account is already connected to another account."


class IdentityNotFound(SessionJWTError):
    status = 404
    code = "identity_not_found"
    default_message = "No such connected account."


class LastSignInMethod(SessionJWTError):
    status = 409
    code = "last_sign_in_method"
    default_message = (
        "This is the account's only way to sign in; add a password or another provider first."
    )


# -- second factors (docs/mfa.md) ---------------------------------------------------------


class SecondFactorRequired(AuthenticationError):
    """The password was right, but the account has a second factor (or must enrol one):
    no session yet. Raised by :meth:`AuthCore.login`, which cannot return the pending
    sign-in; ``POST /auth/login`` answers 200 ``{"mfa_required": true, ...}`` instead."""

    code = "mfa_required"
    default_message = "The account needs a second factor: complete the sign-in with it."

    def __init__(self, pending: object, message: str | None = None) -> None:
        super().__init__(message)
        self.pending = pending


class InvalidMfaToken(AuthenticationError):
    """401 for any ``mfa_token`` that is not a live pending sign-in of this kind: unknown,
    used, expired, or spent by too many wrong codes. One code whatever the reason."""

    code = "invalid_mfa_token"
    default_message = "This sign-in has expired or was already completed; sign in again."


class InvalidOneTimeCode(AuthenticationError):
    code = "invalid_code"
    default_message = "The code is incorrect, expired or was already used."


class MfaRequired(SessionJWTError):
    """403: the action needs a session signed in with a second factor."""

    status = 403
    code = "mfa_required"
    default_message = "Sign in with a second factor to do this."


class FactorExists(SessionJWTError):
    status = 409
    code = "factor_exists"
    default_message = "An authenticator app is already set up; remove it first."


class FactorNotFound(SessionJWTError):
    status = 404
    code = "factor_not_found"
    default_message = "No such second factor."


class InvalidPasskey(AuthenticationError):
    """401: a WebAuthn response that does not verify (wrong origin, RP, challenge, signature,
    unknown credential, or a ceremony already used). One code whatever the reason."""

    code = "invalid_passkey"
    default_message = "The passkey could not be verified; try again."


class PasskeyCloned(AuthenticationError):
    """401: the authenticator's signature counter went backwards: a copy of the credential."""

    code = "passkey_counter_regressed"
    default_message = (
        "This passkey reported an older signature count than before and may have been "
        "copied; it was refused. Sign in another way and check your passkeys."
    )


class ConfigurationError(Exception):
    """A setting, key or master-key file is unusable. Not a caller error: fix the deployment."""
