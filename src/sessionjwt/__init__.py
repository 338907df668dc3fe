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
from sessionjwt.issue import TokenPair
from sessionjwt.principal import Principal
from sessionjwt.public import public
from sessionjwt.service import SessionJWT
from sessionjwt.settings import Settings

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
