"""The schema, in one metadata so Alembic sees every table.

Timestamps are timezone-aware UTC on both engines (SQLite stores them as text and hands
back naive values; :class:`UTCDateTime` puts the zone back).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime refused; use UTC-aware datetimes")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_normalized", String(320), nullable=False, unique=True),
    # NULL for an account made by a first sign-in with an identity provider (no password).
    Column("password_hash", String(255), nullable=True),
    Column("roles", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
    # When the user proved they read mail at ``email``; NULL until then (see
    # sessionjwt.accounts.verification). Accounts older than revision 0007 were backfilled.
    Column("email_verified_at", UTCDateTime, nullable=True),
    # The "tokens valid after" watermark, as a counter rather than a time so that clock skew
    # between instances cannot let a session outlive it. Sign-out-everywhere and disable are
    # one increment: every session stamped with an older generation is dead, however many.
    Column("session_generation", Integer, nullable=False, server_default="0"),
    # ``person``, or ``client``: the service account behind a client's client-credentials
    # sessions (its id is the client id; docs/service-clients.md). Never found by e-mail.
    Column("kind", String(16), nullable=False, server_default="person"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("authenticated_at", UTCDateTime, nullable=False),
    Column("user_generation", Integer, nullable=False),
    # deployment_state.session_generation when created: an emergency rotation ends it.
    Column("deployment_generation", Integer, nullable=False, server_default="0"),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("idle_timeout_seconds", Integer, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_reason", String(32), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("refresh_hash", String(64), nullable=False),
    Column("refresh_generation", Integer, nullable=False),
    Column("refresh_rotated_at", UTCDateTime, nullable=True),
    # How the session was authenticated (RFC 8176 ``amr``: ``pwd``, ``fed``) and, for a
    # provider sign-in, which provider, which linked identity and the provider's own session
    # id (``sid``), so its back-channel logout can end exactly the sessions it started.
    # Space-separated, in the order proven: "pwd", "pwd otp mfa", "hwk user", "fed".
    Column("amr", String(64), nullable=False, server_default="pwd"),
    Column("idp", String(32), nullable=True),
    Column("identity_id", String(36), nullable=True),
    Column("idp_sid", String(255), nullable=True),
    # When the session last proved a second factor (sign-in or step-up); NULL: never.
    Column("mfa_at", UTCDateTime, nullable=True),
    # ``session`` (a sign-in) or ``api_key`` (a personal API key: docs/api-keys.md). A key is
    # a session so that it is checked, revoked and announced exactly like one; it has a name,
    # its scopes (space-separated, RFC 6749 §3.3), the prefix its owner sees in listings and
    # the SHA-256 of its secret. Never refreshable: its refresh_hash matches no token.
    Column("kind", String(16), nullable=False, server_default="session"),
    Column("name", String(64), nullable=True),
    Column("scopes", String(1024), nullable=True),
    Column("key_prefix", String(16), nullable=True),
    Column("key_hash", String(64), nullable=True),
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_identity_id", "identity_id"),
    Index("ix_sessions_expires_at", "expires_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(40), nullable=False),
    Column("user_id", String(36), nullable=True),
    Column("session_id", String(64), nullable=True),
    Column("actor", String(80), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_user_id_at", "user_id", "at"),
    Index("ix_audit_events_event", "event"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("public_jwk", JSON, nullable=True),
    # AES-256-GCM under the master key: 12-byte nonce || ciphertext+tag, kid as associated data.
    Column("private_key_encrypted", LargeBinary, nullable=False),
    # Which master key wrapped it (first 8 bytes of its SHA-256, hex); NULL for rows written
    # before 0004, which are tried against every configured master key.
    Column("master_key_id", String(16), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("activated_at", UTCDateTime, nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
    Column("deactivated_at", UTCDateTime, nullable=True),  # stopped signing; verifies until
    # One signer and one published successor at a time, enforced by the store, so racing
    # instances cannot make two.
    Index(
        "uq_signing_keys_one_active",
        "state",
        unique=True,
        postgresql_where=text("state = 'active'"),
        sqlite_where=text("state = 'active'"),
    ),
    Index(
        "uq_signing_keys_one_next",
        "state",
        unique=True,
        postgresql_where=text("state = 'next'"),
        sqlite_where=text("state = 'next'"),
    ),
)

# Deployment-wide secrets other than signing keys (the refresh-token chain key), wrapped like
# them under the master key, so that rotating the master key re-wraps them instead of
# changing them: a value derived from the master key would change with it.
sealed_secrets = Table(
    "sealed_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    # AES-256-GCM under the master key: nonce || ciphertext+tag, "sealed:<name>" as AAD.
    Column("sealed", LargeBinary, nullable=False),
    Column("master_key_id", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row: what holds for the whole deployment. An emergency rotation increments
# ``session_generation``; sessions created before carry the old value and are refused.
deployment_state = Table(
    "deployment_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_generation", Integer, nullable=False, server_default="0"),
    CheckConstraint("id = 1", name="ck_deployment_state_single_row"),
)

# Resource servers allowed to introspect tokens (RFC 7662). The secret is stored only as a
# SHA-256 digest (see sessionjwt.oauth.clients); a deleted client keeps its row for the audit trail
# and can never authenticate again.
clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    # Grants usable at /oauth/token (``client_credentials``; empty: introspection only) and
    # the scopes the client may ask for there, both space-separated.
    Column("grant_types", String(64), nullable=False, server_default=""),
    Column("scopes", String(1024), nullable=True),
)

# Password-reset tokens, stored only as the SHA-256 of the token mailed to the user (see
# sessionjwt.accounts.password_reset). A token is single-use (``used_at``) and short-lived;
# issuing a new one marks the user's older unused ones used.
password_resets = Table(
    "password_resets",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_password_resets_user_id", "user_id"),
)

# Single-use tokens mailed to prove an address, stored only as their SHA-256 like
# password_resets: ``verify_email`` proves the account's own address, ``change_email`` proves
# ``new_email``, the address the account asked to move to. Issuing a new token of a purpose
# marks the user's older unused ones of that purpose used.
email_tokens = Table(
    "email_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("new_email", String(320), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    CheckConstraint("purpose IN ('verify_email', 'change_email')", name="ck_email_tokens_purpose"),
    Index("ix_email_tokens_user_id", "user_id"),
)

# Identities at identity providers linked to an account: (provider, subject) is the
# provider's stable id for the person, never their e-mail address.
identities = Table(
    "identities",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("email", String(320), nullable=True),  # as the provider asserted it, at linking
    Column("linked_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    # The provider's own tokens, only for a provider configured with ``keep_tokens``:
    # AES-256-GCM under the master key (JSON inside), "identity:<id>" as associated data.
    Column("tokens_sealed", LargeBinary, nullable=True),
    Column("tokens_master_key_id", String(16), nullable=True),
    UniqueConstraint("provider", "subject"),
    Index("ix_identities_user_id", "user_id"),
)

# Sign-ins under way at a provider: one row per authorization request, found by the SHA-256
# of its ``state``, bound to the browser that started it by the SHA-256 of a value in an
# HttpOnly cookie, and deleted when used (single use).
provider_flows = Table(
    "provider_flows",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("browser_hash", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("purpose", String(8), nullable=False),  # "signin" or "link"
    Column("user_id", String(36), nullable=True),  # who links (purpose "link")
    Column("nonce", String(64), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("return_to", String(512), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_provider_flows_expires_at", "expires_at"),
)

# Back-channel logout tokens already acted on (their ``jti``, hashed), so a replay is refused.
provider_logout_tokens = Table(
    "provider_logout_tokens",
    metadata,
    Column("jti_hash", String(64), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_provider_logout_tokens_expires_at", "expires_at"),
)


# Second factors (docs/mfa.md). A user's TOTP authenticator: the secret wrapped under the
# master key ("totp:<user_id>" as associated data); ``confirmed_at`` NULL while enrolling;
# ``last_used_step`` is the RFC 6238 time step of the last accepted code, so no code is
# accepted twice.
totp_factors = Table(
    "totp_factors",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("master_key_id", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Column("last_used_step", BigInteger, nullable=True),
)

# Recovery codes: single use, stored as the SHA-256 of the code (the codes are random, 50
# bits and more, so a fast hash is enough: nobody can search the space offline).
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_recovery_codes_user_id", "user_id"),
)

# WebAuthn credentials (passkeys and security keys). ``credential_id`` is base64url, as
# browsers send it; ``sign_count`` only moves forward (a step back is a cloned authenticator).
passkeys = Table(
    "passkeys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", String(1400), nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False, server_default="0"),
    Column("name", String(64), nullable=False),
    Column("transports", String(128), nullable=True),
    Column("aaguid", String(36), nullable=True),
    Column("backed_up", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index("ix_passkeys_user_id", "user_id"),
)

# Ceremonies under way, each found by the SHA-256 of a random token the client holds: a
# sign-in waiting for its second factor (``mfa_token``), a WebAuthn registration or sign-in
# (the challenge it signs). Single use: ``used_at`` is set by one conditional UPDATE.
mfa_challenges = Table(
    "mfa_challenges",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("session_id", String(64), nullable=True),  # the session a step-up or enrolment is for
    Column("amr", String(32), nullable=False, server_default=""),  # first factor proven
    Column("challenge", String(128), nullable=True),  # WebAuthn challenge, base64url
    # A provider sign-in waiting for its second factor: {"idp", "identity_id", "idp_sid"}, so
    # the session it completes belongs to the provider session (back-channel logout).
    Column("federation", JSON, nullable=True),
    Column("scopes", String(1024), nullable=True),  # what the sign-in asked to be limited to
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_mfa_challenges_expires_at", "expires_at"),
)
