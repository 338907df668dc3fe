"""Typed configuration, defaulted in exactly one place and validated at start-up.

Every field can be set from the environment with the ``SESSIONJWT_`` prefix, e.g.
``SESSIONJWT_ACCESS_TOKEN_TTL=600`` (seconds) or ``SESSIONJWT_TRUSTED_PROXIES='["10.0.0.1"]'``.

Longer than our other modules on purpose: one flat class is the reference an operator reads
for every variable, and pydantic-settings needs them on one model to read one environment.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SigningAlgorithm = Literal["EdDSA", "ES256", "PS256", "RS256", "HS256"]
MasterKeySourceName = Literal["file", "env", "vault", "aws-ssm", "aws-secrets-manager"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The longest feed lease a process may hold, so that no revoke ever waits longer than this.
MAX_LEASE_S = 1.0
# A master key is 32 random bytes as strict base64url. Its text form is known here, below
# the key machinery, so the settings can refuse a key pasted where only its name belongs.
MASTER_KEY_BYTES = 32


def decode_base64url(text: str | bytes) -> bytes:
    """Strict base64url (a stray character is an error, not silently skipped); padding
    optional, since some secret stores trim a trailing ``=``."""
    if isinstance(text, str):
        text = text.encode("ascii", errors="replace")
    text = text.strip()
    return base64.b64decode(text + b"=" * (-len(text) % 4), altchars=b"-_", validate=True)


def looks_like_a_key(text: str) -> bool:
    """True if ``text`` decodes to exactly a master key: a key pasted where a *name* belongs."""
    try:
        return len(decode_base64url(text)) == MASTER_KEY_BYTES
    except (binascii.Error, ValueError):
        return False


def _seconds_or_iso(value: object) -> object:
    """Environment values like ``900`` or ``"900"`` mean seconds; ISO 8601 ``PT15M`` works too."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        return float(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]


def _comma_separated(value: object) -> object:
    """``a, b`` from the environment is ``["a", "b"]``; a list from code stays as it is."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _networks(value: object) -> object:
    value = _comma_separated(value)
    if isinstance(value, list):
        return [ipaddress.ip_network(str(item), strict=False) for item in value]
    return value


def _json_list(value: object) -> object:
    if isinstance(value, str):
        import json

        return json.loads(value) if value.strip() else []
    return value


# NoDecode: the environment gives a comma-separated string, not JSON.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]
NetworkList = Annotated[list[IPNetwork], NoDecode, BeforeValidator(_networks)]


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "sessionjwt"


class Settings(BaseSettings):
    # Inputs stay out of error messages: a mistyped setting may be a URL with a password.
    model_config = SettingsConfigDict(
        env_prefix="SESSIONJWT_", extra="forbid", frozen=True, hide_input_in_errors=True
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the default SQLite database, master key and epoch file live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite file `sessionjwt.db` in data_dir.",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="File holding the key that encrypts signing keys at rest (mode 0600). "
        "Default: `master.key` in data_dir. Keep it outside the database's backups.",
    )
    # Where the master key lives: docs/keys-and-secrets.md, "Where the master key lives".
    master_key_source: MasterKeySourceName = Field(
        default="file",
        description="`file` (default), `env` (development only), `vault` (KV v2), `aws-ssm` "
        "(SecureString) or `aws-secrets-manager`.",
    )
    master_key_previous: CommaList = Field(
        default_factory=list,
        description="Previous master keys, which only unwrap (during a rotation): "
        "comma-separated references in the same source (file paths, environment variable "
        "names, Vault paths, SSM parameter or secret names). Never the keys themselves.",
    )
    master_key_env_var: str = Field(
        default="SESSIONJWT_MASTER_KEY",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="With source `env`: the variable holding the base64url key.",
    )
    master_key_vault_url: str | None = Field(
        default=None, description="With source `vault`: the address; default VAULT_ADDR."
    )
    master_key_vault_mount: str = Field(default="secret", description="KV v2 mount point.")
    master_key_vault_path: str | None = Field(
        default=None, description="With source `vault`: the secret's path in the mount."
    )
    master_key_vault_field: str = Field(
        default="master_key", description="With source `vault`: the field holding the key."
    )
    master_key_aws_name: str | None = Field(
        default=None,
        description="With source `aws-ssm`: the parameter name; with `aws-secrets-manager`: "
        "the secret name or ARN.",
    )
    master_key_aws_region: str | None = Field(
        default=None, description="AWS region; default: boto3's (AWS_REGION, config file)."
    )
    master_key_aws_endpoint_url: str | None = Field(
        default=None, description="AWS endpoint override (tests, VPC endpoints)."
    )

    redis_url: str | None = Field(
        default=None,
        description="Redis for cross-instance revocation fan-out and shared rate limits.",
    )
    redis_namespace: str = Field(
        default="sessionjwt",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Prefix of the pub/sub channel and rate-limit keys in Redis.",
    )
    redis_timeout: Duration = Field(
        default=timedelta(seconds=3),
        gt=timedelta(0),
        description="With Redis: how long a rate-limit or backoff command may take before "
        "the attempt is refused with 503 (fail closed). Generous, because a busy host "
        "must not turn into refusals; a refused connection fails at once anyway.",
    )
    invalidation: Literal["auto", "host", "redis"] = Field(
        default="auto",
        description="How a revoke reaches other processes: `redis` (many hosts), `host` (a "
        "shared-memory counter: processes on ONE host only). `auto` picks redis when "
        "redis_url is set, host on SQLite, and refuses to start on another database "
        "without Redis unless `host` is chosen explicitly.",
    )
    feed_heartbeat: Duration = Field(
        default=timedelta(milliseconds=25),
        description="With Redis: how often each process renews its lease (publishes its "
        "heartbeat and its entry in the member registry).",
    )
    feed_stale_after: Duration = Field(
        default=timedelta(milliseconds=100),
        description="With Redis: the lease. A process answers from memory only within this "
        "long of sending a heartbeat it has heard back; a revoke waits at most this long "
        "(plus 5 ms) for a process that does not acknowledge it. At most 1 s.",
    )

    issuer: str = "http://127.0.0.1:8000"
    audience: str = "sessionjwt"
    client_id: str = Field(
        default="sessionjwt",
        description="RFC 9068 `client_id` claim put in access tokens.",
    )
    signing_algorithm: SigningAlgorithm = "EdDSA"
    admin_role: str = Field(
        default="admin",
        description="Role that may use /admin (key rotation, emergency revoke-all) and the "
        "/manage pages (users, their sessions and audit events).",
    )
    key_rotation_interval: Duration = Field(
        default=timedelta(days=30),
        description="The active signing key is replaced after this long (0 disables the "
        "schedule; `sessionjwt keys rotate` still works).",
    )
    key_publish_ahead: Duration = Field(
        default=timedelta(hours=1),
        description="A new key is in the JWKS at least this long before it signs, so that "
        "verifiers caching the JWKS (max-age is a quarter of this) never see an unknown kid.",
    )
    key_ring_refresh: Duration = Field(
        default=timedelta(seconds=30),
        description="How often each instance re-reads the key ring (rotations by other "
        "instances are also announced; this is the backstop).",
    )

    access_token_ttl: Duration = timedelta(minutes=15)
    session_lifetime: Duration = Field(
        default=timedelta(days=30),
        description="Absolute session lifetime; refresh never extends it.",
    )
    session_idle_timeout: Duration = Field(
        default=timedelta(days=7),
        description="A session unused for this long expires.",
    )
    refresh_grace: Duration = Field(
        default=timedelta(seconds=10),
        description="How long the previous refresh token still yields the same successor "
        "(concurrent refreshes); after it, presenting it revokes the session.",
    )
    leeway: Duration = Field(default=timedelta(seconds=10), le=timedelta(minutes=2))
    last_seen_resolution: Duration = Field(
        default=timedelta(seconds=30),
        description="Last-seen is written to the database at most this often per session.",
    )
    api_key_max_lifetime: Duration = Field(
        default=timedelta(days=365),
        ge=timedelta(minutes=1),
        le=timedelta(days=3650),
        description="The longest expires_in a personal API key may ask for, and the lifetime "
        "of one that asks for none.",
    )

    prune_interval: Duration = Field(
        default=timedelta(minutes=5),
        description="How often each instance deletes ended sessions and old audit rows.",
    )
    prune_batch_size: int = Field(default=1000, ge=10, le=100_000)
    ended_session_retention: Duration = Field(
        default=timedelta(days=1),
        description="Revoked or expired sessions are deleted this long after they ended.",
    )
    audit_retention: Duration = Field(default=timedelta(days=365))

    max_token_bytes: int = Field(default=8192, ge=512, le=65536)
    verified_token_cache_size: int = Field(default=100_000, ge=0)
    max_body_bytes: int = Field(
        default=16384,
        ge=1024,
        description="Request bodies larger than this are refused with 413 request_too_large "
        "before they are parsed (by Content-Length, or as a chunked body arrives).",
    )
    max_body_bytes_by_path: dict[str, Annotated[int, Field(ge=1024)]] = Field(
        default_factory=dict,
        description="Larger (or smaller) body limits by path prefix, as JSON, e.g. "
        '`{"/admin": 65536}`; the longest matching prefix wins.',
    )
    max_header_bytes: int = Field(
        default=32768,
        ge=8192,
        description="Header names and values of one request, together: more is refused with "
        "431 request_headers_too_large (`serve` also cuts off a request head beyond this "
        "plus 16 KiB while it arrives).",
    )
    max_header_count: int = Field(
        default=100,
        ge=32,
        description="Headers of one request: more is refused with 431 request_headers_too_large.",
    )

    password_min_length: int = Field(default=8, ge=8)
    password_max_length: int = Field(default=1024, ge=64)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    password_hashing_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Password hashes computed at once per process, at the lowest CPU "
        "priority; further logins queue. Memory: this many times argon2_memory_cost_kib.",
    )

    login_rate_limit_ip: str = "30/minute"
    login_failures_per_account: str = Field(
        default="50/hour",
        description="Ceiling of failed logins per account from all addresses together; past "
        "it every address that fails waits the full backoff cap (never a lock: addresses "
        "with no failures still get in).",
    )
    login_backoff_free_failures: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Failed logins of an (account, address) pair before the first wait.",
    )
    login_backoff_base: Duration = Field(
        default=timedelta(seconds=1),
        description="The first wait of an (account, address) pair; it doubles with each "
        "further failure.",
    )
    login_backoff_cap: Duration = Field(
        default=timedelta(minutes=15),
        description="The longest wait between failed logins: nobody is locked out for longer.",
    )
    login_backoff_forget: Duration = Field(
        default=timedelta(hours=24),
        description="A pair's failure count starts again from zero after this long without "
        "an attempt (a successful login resets it at once).",
    )
    login_known_device_ttl: Duration = Field(
        default=timedelta(days=90),
        gt=timedelta(0),
        description="How long the signed known-device cookie of a password sign-in lifts the "
        "per-account ceiling for that browser (renewed at every sign-in; longer than a "
        "session, so a device that signs in once a session stays known).",
    )
    login_known_device_failures: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Failed logins with one known-device cookie before it stops lifting the "
        "ceiling (the next successful sign-in hands out a new one).",
    )
    refresh_rate_limit_ip: str = "120/minute"
    register_rate_limit_ip: str = "10/minute"
    introspect_rate_limit_ip: str = Field(
        default="1200/minute",
        description="RFC 7662 introspection calls per client IP (resource servers call often).",
    )
    revoke_rate_limit_ip: str = Field(
        default="120/minute",
        description="RFC 7009 revocation calls per client IP.",
    )
    token_rate_limit_ip: str = Field(
        default="120/minute",
        description="POST /oauth/token calls (client credentials, refresh) per client IP.",
    )

    password_reset_ttl: Duration = Field(
        default=timedelta(minutes=30),
        gt=timedelta(0),
        description="How long a password-reset link works (once).",
    )
    password_reset_url: str | None = Field(
        default=None,
        description="The link mailed for a password reset, containing `{token}`, e.g. "
        "`https://app.example.com/reset#token={token}`. Unset, with pages_enabled: "
        "`{issuer}/password-reset/confirm#token={token}`. Without a link or smtp_host no reset "
        "mail is sent and a warning is logged.",
    )
    password_reset_rate_limit_ip: str = "10/minute"  # noqa: S105 - a rate
    password_reset_rate_limit_email: str = Field(
        default="3/hour",
        description="Reset requests per email address (whether or not the account exists).",
    )
    email_verification: Literal["off", "optional", "required"] = Field(
        default="off",
        description="`off`: sign-up answers 201, or 409 for a taken address. `optional` and "
        "`required`: sign-up always answers 202 and mails either a verification link or, to an "
        "address that has an account, a notice; `required` also refuses password sign-in "
        "with 403 `email_not_verified` until the link was followed (docs/security.md).",
    )
    email_verification_ttl: Duration = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="How long a verification or e-mail-change link works (once).",
    )
    email_verification_url: str | None = Field(
        default=None,
        description="The verification link mailed, containing `{token}`. Unset, with "
        "pages_enabled: `{issuer}/verify-email#token={token}`.",
    )
    email_change_url: str | None = Field(
        default=None,
        description="The link mailed to a new address to confirm an e-mail change, containing "
        "`{token}`; it is confirmed by the signed-in user. Unset, with pages_enabled: "
        "`{issuer}/security/email/confirm?token={token}` (a query, so it survives signing in).",
    )
    email_verification_rate_limit_ip: str = "10/minute"
    email_verification_rate_limit_email: str = Field(
        default="3/hour",
        description="Verification-link resends, and e-mail-change links, per address (whether "
        "or not it has an account).",
    )
    providers: Annotated[list[dict[str, Any]], NoDecode, BeforeValidator(_json_list)] = Field(
        default_factory=list,
        description="Identity providers to sign in with: a JSON list of objects (`name`, "
        "`preset`, `issuer`, `client_id`, `client_secret_env`, `scopes`, `trust_email`, ...); "
        "see docs/providers.md. Checked at start-up.",
    )
    provider_callback_url: str = Field(
        default="{issuer}/auth/providers/{name}/callback",
        description="Where providers send the browser back (register it at each provider); "
        "`{issuer}` and `{name}` are filled in.",
    )
    # Second factors and passkeys (docs/mfa.md).
    mfa_required_roles: CommaList = Field(
        default_factory=list,
        description="Roles whose users must sign in with a second factor (e.g. `admin`; `*`: "
        "every account): "
        "one without a factor enrols at the next sign-in, and a session without one is "
        "refused by the admin API and pages (403 `mfa_required`). Comma-separated.",
    )
    mfa_token_ttl: Duration = Field(
        default=timedelta(minutes=5),
        description="How long a sign-in waits for its second factor after the password.",
    )
    mfa_max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Wrong codes one pending sign-in may send before it is spent (the "
        "account's login backoff applies across sign-ins too).",
    )
    totp_issuer: str | None = Field(
        default=None,
        description="The name authenticator apps show beside the account; unset: the host of "
        "`issuer`.",
    )
    # Passkeys (WebAuthn; docs/mfa.md, "Passkeys").
    webauthn_rp_id: str | None = Field(
        default=None,
        description="The WebAuthn relying-party id passkeys are bound to: a domain that is "
        "the host of every origin in `webauthn_origins` or a parent of it (`example.com` "
        "serves `auth.example.com`). Unset: the host of `issuer`. An IP address cannot be "
        "one: address the service by name (`localhost` in development). Changing it orphans "
        "every registered passkey.",
    )
    webauthn_rp_name: str | None = Field(
        default=None,
        description="The name browsers show when creating a passkey; unset: `totp_issuer`, "
        "else `sessionjwt`.",
    )
    webauthn_origins: CommaList = Field(
        default_factory=list,
        description="Origins whose WebAuthn responses are accepted (the page's origin as the "
        "browser signs it, e.g. `https://auth.example.com`), comma-separated; unset: the "
        "origin of `issuer`.",
    )
    webauthn_challenge_ttl: Duration = Field(
        default=timedelta(minutes=5),
        description="How long a passkey ceremony (its challenge) may take; each is used once.",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for outgoing mail.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="`starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (a local "
        "relay only).",
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="sessionjwt@localhost", description="The From address.")
    smtp_timeout: Duration = timedelta(seconds=10)

    # Browsers: cookie transport, CSRF and fresh authentication (docs/browser.md).
    cookie_secure: bool = Field(
        default=True,
        description="Mark cookies Secure and give them the __Host-/__Secure- prefixes. False is "
        "honoured only for requests to localhost, 127.0.0.1 or ::1 (plain-HTTP development); "
        "every other host still gets Secure, prefixed cookies.",
    )
    cookie_samesite: Literal["lax", "strict"] = Field(
        default="lax",
        description="SameSite of the access and refresh cookies. `lax` keeps users signed in "
        "when they follow a link from mail or another site; CSRF is refused by Origin and "
        "Fetch-Metadata checks either way.",
    )
    cookie_refresh_path: str = Field(
        default="/auth/refresh",
        pattern=r"^/[A-Za-z0-9._~/-]*$",
        description="The only path the refresh cookie is sent to: the cookie refresh endpoint.",
    )
    sign_in_path: str = Field(
        default="/signin",
        pattern=r"^/[A-Za-z0-9._~/-]*$",
        description="Where a browser without a live session is sent (with ?next=).",
    )
    trusted_origins: CommaList = Field(
        default_factory=list,
        description="Origins besides the request's own whose cookie-authenticated unsafe "
        "requests are accepted (e.g. `https://app.example.com`), comma-separated.",
    )
    fresh_auth_window: Duration = Field(
        default=timedelta(minutes=10),
        description="How recent the password (or, for an account with a second factor, that "
        "factor) must be for sensitive actions (changing the password or e-mail, adding or "
        "removing a factor, signing out everywhere, admin actions); older sessions are asked "
        "again (step-up).",
    )
    pages_enabled: bool = Field(
        default=True,
        description="Serve the sign-in, devices, security and admin pages from `sessionjwt serve`.",
    )

    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus metrics at /metrics, unauthenticated like /readyz: let "
        "only the scraper reach it (a private port or network policy), not the internet.",
    )
    access_log: bool = Field(
        default=False,
        description="`sessionjwt serve`: one JSON line per request on logger `sessionjwt.access` "
        "(stderr): method, path without query string, status, duration, client IP, request "
        "size; never a token, cookie or header value. Off: no per-request cost at all.",
    )

    trusted_proxies: NetworkList = Field(
        default_factory=list,
        description="Peers whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated).",
    )

    @field_validator("trusted_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[^/?#\s]+", origin):
                raise ValueError("trusted_origins holds origins like https://app.example.com")
        return [origin.lower() for origin in value]

    @field_validator("webauthn_origins")
    @classmethod
    def _webauthn_origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[^/?#\s]+", origin):
                raise ValueError("webauthn_origins holds origins like https://auth.example.com")
        return [origin.lower() for origin in value]

    @field_validator("max_body_bytes_by_path")
    @classmethod
    def _paths_are_paths(cls, value: dict[str, int]) -> dict[str, int]:
        if any(not path.startswith("/") for path in value):
            raise ValueError('max_body_bytes_by_path maps path prefixes like "/admin" to bytes')
        return value

    @field_validator("webauthn_rp_id")
    @classmethod
    def _rp_id_is_a_host(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9.-]+", value):
            raise ValueError("webauthn_rp_id is a domain such as example.com (no scheme or port)")
        return value.lower() if value is not None else None

    @field_validator("master_key_previous")
    @classmethod
    def _names_not_keys(cls, value: list[str]) -> list[str]:
        """A key pasted where its *name* belongs would end up in error messages: refuse it,
        without repeating it."""
        if any(looks_like_a_key(reference) for reference in value):
            raise ValueError(
                "master_key_previous names where previous keys live (paths, variable names, "
                "secret names); it must not hold a key itself"
            )
        return value

    @field_validator(
        "login_rate_limit_ip",
        "login_failures_per_account",
        "refresh_rate_limit_ip",
        "register_rate_limit_ip",
        "introspect_rate_limit_ip",
        "revoke_rate_limit_ip",
        "token_rate_limit_ip",
        "password_reset_rate_limit_ip",
        "password_reset_rate_limit_email",
        "email_verification_rate_limit_ip",
        "email_verification_rate_limit_email",
    )
    @classmethod
    def _parse_limit(cls, value: str) -> str:
        """Fail at start-up, not at the first login, on a limit like ``"10/fortnight"``."""
        from limits import parse

        parse(value)
        return value

    @model_validator(mode="after")
    def _check_lifetimes(self) -> Settings:
        if self.access_token_ttl <= timedelta(0):
            raise ValueError("access_token_ttl must be positive")
        if self.session_lifetime < self.access_token_ttl:
            raise ValueError("session_lifetime must be at least access_token_ttl")
        if self.invalidation == "redis" and not self.redis_url:
            raise ValueError("invalidation=redis needs redis_url")
        if self.feed_stale_after <= self.feed_heartbeat:
            raise ValueError("feed_stale_after must exceed feed_heartbeat")
        if self.feed_stale_after > timedelta(seconds=MAX_LEASE_S):
            raise ValueError("feed_stale_after is the longest a revoke may wait: at most 1 s")
        if not timedelta(0) < self.login_backoff_base <= self.login_backoff_cap:
            raise ValueError("need 0 < login_backoff_base <= login_backoff_cap")
        if self.login_backoff_forget < self.login_backoff_cap:
            raise ValueError("login_backoff_forget must be at least login_backoff_cap")
        if self.password_max_length < self.password_min_length:
            raise ValueError("password_max_length must be >= password_min_length")
        if self.password_reset_url is not None and "{token}" not in self.password_reset_url:
            raise ValueError("password_reset_url must contain {token}")
        for name in ("email_verification_url", "email_change_url"):
            template = getattr(self, name)
            if template is not None and "{token}" not in template:
                raise ValueError(f"{name} must contain {{token}}")
        rp_id = self.resolved_webauthn_rp_id
        explicit = (
            self.webauthn_origins if self.webauthn_rp_id is None else self.resolved_webauthn_origins
        )
        for origin in explicit:  # the defaults (both from ``issuer``) always agree
            host = (urlsplit(origin).hostname or "").lower()
            if host != rp_id and not host.endswith("." + rp_id):
                raise ValueError(
                    f"webauthn_rp_id {rp_id!r} must be the host of every webauthn origin or a "
                    f"parent domain of it, and {origin!r} is not under it"
                )
        if self.master_key_source == "vault" and not self.master_key_vault_path:
            raise ValueError("master_key_source=vault needs master_key_vault_path")
        if self.master_key_source.startswith("aws-") and not self.master_key_aws_name:
            source = self.master_key_source
            raise ValueError(f"master_key_source={source} needs master_key_aws_name")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'sessionjwt.db'}"

    @property
    def resolved_password_reset_url(self) -> str | None:
        """The reset link to mail: the configured one, else the service's own reset page.

        The token goes in the fragment, which browsers never send, so it stays out of access
        logs and Referer headers; the page's script moves it into the form."""
        if self.password_reset_url is not None:
            return self.password_reset_url
        if self.pages_enabled:
            return f"{self.issuer.rstrip('/')}/password-reset/confirm#token={{token}}"
        return None

    @property
    def resolved_email_verification_url(self) -> str | None:
        """The verification link to mail: the configured one, else the service's own page
        (the token in the fragment, as for the reset link)."""
        if self.email_verification_url is not None:
            return self.email_verification_url
        if self.pages_enabled:
            return f"{self.issuer.rstrip('/')}/verify-email#token={{token}}"
        return None

    @property
    def resolved_email_change_url(self) -> str | None:
        """The e-mail-change confirmation link: the configured one, else the Security page's.

        In the query rather than the fragment: the page needs a signed-in user, and a
        fragment would be lost on the way through the sign-in form."""
        if self.email_change_url is not None:
            return self.email_change_url
        if self.pages_enabled:
            return f"{self.issuer.rstrip('/')}/security/email/confirm?token={{token}}"
        return None

    @property
    def resolved_webauthn_rp_id(self) -> str:
        """The relying-party id: the configured one, else the host of ``issuer``."""
        return self.webauthn_rp_id or (urlsplit(self.issuer).hostname or "localhost").lower()

    @property
    def resolved_webauthn_rp_name(self) -> str:
        return self.webauthn_rp_name or self.totp_issuer or "sessionjwt"

    @property
    def resolved_webauthn_origins(self) -> list[str]:
        """The origins a WebAuthn response may name: the configured ones, else ``issuer``'s."""
        if self.webauthn_origins:
            return list(self.webauthn_origins)
        parts = urlsplit(self.issuer)
        return [f"{parts.scheme}://{parts.netloc}".lower()]

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def epoch_file(self) -> Path:
        """Shared-memory invalidation counter for processes on this host (see liveness/epoch)."""
        return self.data_dir / "sessionjwt.epoch"
