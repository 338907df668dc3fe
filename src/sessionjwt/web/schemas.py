"""The JSON bodies of the ``/auth`` API: what a client sends and what it gets back.
Unknown fields are refused (``extra="forbid"``), so a typo is an error, not a silent default."""

# No ``from __future__ import annotations``: pydantic evaluates these annotations.
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from sessionjwt.accounts.factors.service import PendingSignIn, TotpEnrolment
from sessionjwt.sessions.issue import TokenPair


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one(body: Any, *also: str) -> Any:
    """A proof body carries one proof: two would leave which one counted to chance."""
    names = (*also, "code", "recovery_code")
    given = [name for name in names if getattr(body, name) is not None]
    if len(given) != 1:
        raise ValueError(f"send exactly one of {', '.join(names)}")
    return body


class RegisterRequest(_Body):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=4096)


class LoginRequest(_Body):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=4096)
    scope: str | None = Field(
        default=None,
        max_length=1024,
        description="Limit the session to these space-separated scopes (RFC 6749 §3.3); its "
        "tokens carry them as the `scope` claim. Omitted: a full-access session.",
    )


class RefreshRequest(_Body):
    # Generous on purpose: anything token-shaped, even an access token sent by mistake, must
    # reach the refresh parser and get its 401 invalid_token, not a 422 about length.
    refresh_token: str = Field(min_length=1, max_length=65536)


class ReauthenticateRequest(_Body):
    """One proof: the password (an account without a second factor), or a code from the
    authenticator app or a recovery code (an account with one: step-up)."""

    password: str | None = Field(default=None, min_length=1, max_length=4096)
    code: str | None = Field(default=None, min_length=1, max_length=16)
    recovery_code: str | None = Field(default=None, min_length=1, max_length=64)

    _one_proof = model_validator(mode="after")(lambda self: _exactly_one(self, "password"))


class MfaCompleteRequest(_Body):
    """The second step of a sign-in: the ``mfa_token`` and one code."""

    mfa_token: str = Field(min_length=1, max_length=128)
    code: str | None = Field(default=None, min_length=1, max_length=16)
    recovery_code: str | None = Field(default=None, min_length=1, max_length=64)

    _one_proof = model_validator(mode="after")(lambda self: _exactly_one(self))


class MfaTokenRequest(_Body):
    mfa_token: str = Field(min_length=1, max_length=128)


class TotpConfirmRequest(_Body):
    code: str = Field(min_length=1, max_length=16)


class PasswordChangeRequest(_Body):
    current_password: str = Field(min_length=1, max_length=4096)
    new_password: str = Field(min_length=1, max_length=4096)


class PasswordResetRequest(_Body):
    email: str = Field(min_length=1, max_length=320)


class PasswordResetConfirm(_Body):
    token: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=4096)


class VerifyEmailRequest(_Body):
    token: str = Field(min_length=1, max_length=256)


class ResendVerificationRequest(_Body):
    email: str = Field(min_length=1, max_length=320)


class EmailChangeRequest(_Body):
    new_email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=4096)


class EmailChangeConfirm(_Body):
    token: str = Field(min_length=1, max_length=256)


class AcceptedOut(BaseModel):
    message: str


RESET_ACCEPTED = "If an account exists for this address, a password-reset link is on its way to it."
# One answer to every sign-up with verification on, whether or not the address has an account.
SIGNUP_ACCEPTED = "Check your mail: we sent a message to this address to finish signing up."
RESEND_ACCEPTED = (
    "If this address has an account still to be confirmed, a new link is on its way to it."
)
EMAIL_CHANGE_ACCEPTED = (
    "Check the new address's mail: the change happens when its link is opened. A notice "
    "went to the current address."
)


class UserOut(BaseModel):
    id: str
    email: str


class TokenPairOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    scope: str | None = None  # RFC 6749 §5.1: the session's scopes, when it asked for some

    @classmethod
    def of(cls, pair: TokenPair) -> "TokenPairOut":
        return cls(
            access_token=pair.access_token,
            token_type=pair.token_type,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token,
            refresh_expires_in=pair.refresh_expires_in,
            session_id=pair.session_id,
            scope=pair.scope,
        )

    @model_serializer(mode="wrap")
    def _omit_absent_scope(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A full-access session sends no ``scope`` key rather than ``null`` (RFC 6749 §5.1
        leaves it out when nothing narrowed the grant)."""
        body: dict[str, Any] = handler(self)
        if body.get("scope") is None:
            body.pop("scope", None)
        return body


class MfaRequiredOut(BaseModel):
    """200 to a right password on an account with a second factor: no session yet."""

    mfa_required: bool = True
    mfa_token: str
    methods: list[str]
    expires_in: int
    enrolment_required: bool = False

    @classmethod
    def of(cls, pending: PendingSignIn) -> "MfaRequiredOut":
        return cls(
            mfa_token=pending.mfa_token,
            methods=list(pending.methods),
            expires_in=pending.expires_in,
            enrolment_required=pending.enrolment_required,
        )


class MfaSignedInOut(TokenPairOut):
    """The completed sign-in; ``recovery_codes`` only when it also enrolled a factor."""

    recovery_codes: list[str] | None = None


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str

    @classmethod
    def of(cls, enrolment: TotpEnrolment) -> "TotpEnrolmentOut":
        return cls(
            secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
        )


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]  # shown once: only their digests are kept


class FactorsOut(BaseModel):
    totp: bool
    passkeys: int
    recovery_codes_left: int
    methods: list[str]
    mfa_session: bool  # whether the caller's session proved a second factor


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool
    amr: list[str] = Field(
        default_factory=list,
        description='How it signed in (RFC 8176, in the order proven): ["pwd"], '
        '["pwd", "otp", "mfa"], ["hwk", "user", "mfa"], ["fed"], ...',
    )


class MeOut(BaseModel):
    id: str
    email: str
    roles: list[str]
    session_id: str
    email_verified: bool


class ErrorOut(BaseModel):
    error: str
    message: str


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
