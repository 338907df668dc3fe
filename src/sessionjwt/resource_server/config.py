"""The resource server's settings: one frozen value, defaulted here and validated on creation.

A resource server is *another* service: it holds no database and no signing key. It needs the
issuer's identity (``iss``), the audience its tokens carry (``aud``), where the public keys are
(the JWKS URL, by default under the issuer), and a registered introspection client, since every
liveness answer that is not in memory comes from the issuer's RFC 7662 endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sessionjwt.errors import ConfigurationError
from sessionjwt.settings import MAX_LEASE_S

LivenessMode = Literal["introspection", "redis"]
MAX_INTROSPECTION_CACHE_S = 60.0
# The issuer's paths (sessionjwt.web.well_known, which needs FastAPI; a test pins them
# equal): repeated here so that a resource server on plain Starlette does not import FastAPI.
JWKS_PATH = "/.well-known/jwks.json"
INTROSPECTION_PATH = "/oauth/introspect"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceServerConfig:
    """Everything a resource server is configured with. No switch turns a check off.

    ``introspection_cache_ttl`` is, in ``introspection`` mode, the revocation delay bound: a
    session revoked at the issuer may be accepted here for at most that long after a positive
    answer was cached. In ``redis`` mode no TTL applies: memory is kept while the feed is
    healthy and dropped by every message that could concern it (see :mod:`.liveness`).
    """

    issuer: str
    audience: str
    client_id: str
    client_secret: str = field(repr=False)
    liveness: LivenessMode = "introspection"
    jwks_url: str | None = None  # default: issuer + /.well-known/jwks.json
    introspection_url: str | None = None  # default: issuer + /oauth/introspect

    # -- the JWKS cache ----------------------------------------------------------------------
    jwks_refetch_floor: float = 30.0  # an unknown kid refetches at most this often
    jwks_keys_message_floor: float = 1.0  # a ``k:`` message refetches at most this often
    jwks_default_max_age: float = 300.0  # periodic refresh when the JWKS names no max-age
    jwks_max_refresh_interval: float = 3600.0  # never keep a JWKS longer than this
    jwks_max_bytes: int = 256 * 1024

    # -- liveness ----------------------------------------------------------------------------
    introspection_cache_ttl: float = 5.0
    max_entries: int = 100_000  # remembered tokens (introspection) or sessions (redis)
    redis_url: str | None = None
    redis_namespace: str = "sessionjwt"  # the issuer's SESSIONJWT_REDIS_NAMESPACE
    feed_heartbeat: float = 0.025  # the issuer's defaults: this service is a feed member too
    feed_stale_after: float = 0.1  # its lease: an issuer's revoke waits at most this for it

    # -- the token policy (the issuer's defaults) -------------------------------------------
    leeway: float = 10.0
    max_token_bytes: int = 8192
    verified_token_cache_size: int = 100_000

    # -- outbound HTTP -----------------------------------------------------------------------
    http_timeout: float = 2.0
    trust_env: bool = False  # proxy variables are ignored unless asked for

    def __post_init__(self) -> None:
        if not (self.issuer and self.audience):
            raise ConfigurationError("a resource server needs the issuer and the audience")
        if not (self.client_id and self.client_secret):
            raise ConfigurationError(
                "a resource server needs an introspection client id and secret "
                "(`sessionjwt clients create` on the issuer)"
            )
        if self.liveness == "redis" and not self.redis_url:
            raise ConfigurationError("liveness='redis' needs redis_url")
        if self.liveness not in ("introspection", "redis"):
            raise ConfigurationError(f"unknown liveness mode {self.liveness!r}")
        if not 0 <= self.introspection_cache_ttl <= MAX_INTROSPECTION_CACHE_S:
            raise ConfigurationError(
                f"introspection_cache_ttl must be between 0 and {MAX_INTROSPECTION_CACHE_S:g} s "
                "(it is how long a revoked session may still be accepted)"
            )
        if self.jwks_refetch_floor < 0 or self.jwks_keys_message_floor < 0:
            raise ConfigurationError("JWKS refetch floors cannot be negative")
        if self.jwks_max_refresh_interval < self.jwks_refetch_floor:
            raise ConfigurationError("jwks_max_refresh_interval must be at least the floor")
        if self.feed_stale_after <= self.feed_heartbeat:
            raise ConfigurationError("feed_stale_after must exceed feed_heartbeat")
        if self.feed_stale_after > MAX_LEASE_S:
            raise ConfigurationError("feed_stale_after is the longest a revoke may wait: <= 1 s")
        if not 0 <= self.leeway <= 120:
            raise ConfigurationError("leeway must be between 0 and 120 s")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "RS_"
    ) -> ResourceServerConfig:
        """The config from ``RS_ISSUER``, ``RS_AUDIENCE``, ``RS_CLIENT_ID``,
        ``RS_CLIENT_SECRET`` and optionally ``RS_JWKS_URL``, ``RS_INTROSPECTION_URL``,
        ``RS_INTROSPECTION_CACHE_TTL``, ``RS_REDIS_URL`` (which selects ``redis`` liveness),
        ``RS_REDIS_NAMESPACE``, ``RS_FEED_STALE_AFTER``: one spelling for every framework's
        example and for twelve-factor deployments."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(prefix + name) or None

        def seconds(name: str, default: float) -> float:
            raw = get(name)
            try:
                return default if raw is None else float(raw)
            except ValueError:
                raise ConfigurationError(f"{prefix}{name} is a number of seconds") from None

        redis_url = get("REDIS_URL")
        return cls(
            issuer=get("ISSUER") or "http://127.0.0.1:8000",
            audience=get("AUDIENCE") or "sessionjwt",
            client_id=get("CLIENT_ID") or "",
            client_secret=get("CLIENT_SECRET") or "",
            jwks_url=get("JWKS_URL"),
            introspection_url=get("INTROSPECTION_URL"),
            introspection_cache_ttl=seconds("INTROSPECTION_CACHE_TTL", 5.0),
            liveness="redis" if redis_url else "introspection",
            redis_url=redis_url,
            redis_namespace=get("REDIS_NAMESPACE") or "sessionjwt",
            feed_stale_after=seconds("FEED_STALE_AFTER", 0.1),
        )

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or self.issuer.rstrip("/") + JWKS_PATH

    @property
    def resolved_introspection_url(self) -> str:
        return self.introspection_url or self.issuer.rstrip("/") + INTROSPECTION_PATH

    @property
    def channel(self) -> str:
        return f"{self.redis_namespace}:invalidations"
