"""sessionjwt: JWTs that are signed pointers to revocable server-side sessions."""

from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, ManualClock, SystemClock
from sessionjwt.errors import (
    AccountDisabled,
    AuthenticationError,
    ConfigurationError,
    InsufficientRole,
    InvalidCredentials,
    InvalidToken,
    MissingToken,
    RateLimited,
    RefreshTokenReused,
    SessionExpired,
    SessionJWTError,
    SessionRevoked,
    StoreUnavailable,
    TokenExpired,
)
from sessionjwt.facade import SessionJWT
from sessionjwt.principal import Principal
from sessionjwt.sessions.issue import TokenPair
from sessionjwt.settings import Settings
from sessionjwt.web.public import public

__all__ = [
    "AccountDisabled",
    "AuthenticationError",
    "ClientInfo",
    "Clock",
    "ConfigurationError",
    "InsufficientRole",
    "InvalidCredentials",
    "InvalidToken",
    "ManualClock",
    "MissingToken",
    "Principal",
    "RateLimited",
    "RefreshTokenReused",
    "SessionExpired",
    "SessionJWT",
    "SessionJWTError",
    "SessionRevoked",
    "Settings",
    "StoreUnavailable",
    "SystemClock",
    "TokenExpired",
    "TokenPair",
    "public",
]
