"""The append-only audit trail: who did what to which session, from where. Never token material.

Events are written in the same transaction as the change they describe (a revoke and its
audit row land together or not at all) and echoed as one JSON line on the
``sessionjwt.audit`` logger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.clock import to_datetime
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import audit_events

logger = logging.getLogger("sessionjwt.audit")


class AuditEventType(StrEnum):
    REGISTER = "register"
    LOGIN_OK = "login_ok"
    LOGIN_FAILED = "login_failed"
    # The right password for a disabled account, answered as a wrong one (invalid_credentials).
    LOGIN_REFUSED_DISABLED = "login_refused_disabled"
    REFRESH = "refresh"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    LOGOUT = "logout"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    SESSION_REVOKED = "session_revoked"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    KEY_ROTATED = "key_rotated"
    KEY_RETIRED = "key_retired"
    EMERGENCY_KEY_ROTATION = "emergency_key_rotation"
    CLIENT_CREATED = "client_created"
    CLIENT_DELETED = "client_deleted"
    CLIENT_TOKEN_ISSUED = "client_token_issued"  # noqa: S105 - RFC 6749 §4.4 grant
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105
    PASSWORD_RESET = "password_reset"  # noqa: S105
    REAUTHENTICATED = "reauthenticated"
    IDENTITY_LINKED = "identity_linked"  # an identity at a provider connected to the account
    IDENTITY_UNLINKED = "identity_unlinked"
    EMAIL_VERIFICATION_SENT = "email_verification_sent"
    EMAIL_VERIFIED = "email_verified"
    REGISTER_EXISTING_EMAIL = "register_existing_email"  # a sign-up with a taken address
    LOGIN_EMAIL_NOT_VERIFIED = "login_email_not_verified"  # right password, unproven address
    EMAIL_CHANGE_REQUESTED = "email_change_requested"
    EMAIL_CHANGED = "email_changed"
    LOGIN_SECOND_FACTOR_PENDING = "login_second_factor_pending"  # right password, code awaited
    RECOVERY_CODE_USED = "recovery_code_used"
    FACTOR_ADDED = "factor_added"  # detail.factor: totp, passkey, recovery_codes
    FACTOR_REMOVED = "factor_removed"
    MFA_RESET = "mfa_reset"  # an administrator removed every factor of the user
    STEPPED_UP = "stepped_up"  # a live session proved a second factor again
    PASSKEY_COUNTER_REGRESSED = "passkey_counter_regressed"  # a cloned authenticator?
    API_KEY_CREATED = "api_key_created"
    API_KEY_DELETED = "api_key_deleted"
    API_KEY_REFUSED = "api_key_refused"  # an ended key presented again (once a minute per key)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event: AuditEventType
    at: float
    user_id: str | None = None
    session_id: str | None = None
    actor: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "event": str(self.event),
            "at": to_datetime(self.at),
            "user_id": self.user_id,
            "session_id": self.session_id,
            "actor": self.actor,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "detail": self.detail or None,
        }


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    event: str
    at: datetime
    user_id: str | None
    session_id: str | None
    actor: str | None
    ip: str | None
    user_agent: str | None
    detail: dict[str, Any] | None


async def write_events(connection: AsyncConnection, events: Sequence[AuditEvent]) -> None:
    """Insert inside the caller's transaction, then log (the log line follows the commit)."""
    if not events:
        return
    await connection.execute(audit_events.insert(), [event.row() for event in events])
    for event in events:
        payload = asdict(event)
        payload["event"] = str(event.event)
        logger.info(json.dumps(payload, sort_keys=True, default=str))


class AuditLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, *events: AuditEvent) -> None:
        async with self._db.write() as connection:
            await write_events(connection, events)

    async def prune(self, before: float, batch_size: int) -> int:
        """Delete up to ``batch_size`` events older than ``before`` (retention, bounded)."""
        victims = (
            select(audit_events.c.id)
            .where(audit_events.c.at < to_datetime(before))
            .order_by(audit_events.c.id)
            .limit(batch_size)
            .scalar_subquery()
        )
        async with self._db.write() as connection:
            result = await connection.execute(
                delete(audit_events).where(audit_events.c.id.in_(victims))
            )
        return int(result.rowcount or 0)

    async def query(
        self,
        *,
        user_id: str | None = None,
        event: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditRecord]:
        """Newest first; ``before_id`` continues after the last row of a previous page."""
        statement = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if before_id is not None:
            statement = statement.where(audit_events.c.id < before_id)
        if user_id is not None:
            statement = statement.where(audit_events.c.user_id == user_id)
        if event is not None:
            statement = statement.where(audit_events.c.event == event)
        if since is not None:
            statement = statement.where(audit_events.c.at >= since)
        if until is not None:
            statement = statement.where(audit_events.c.at < until)
        async with self._db.read() as connection:
            rows = await connection.execute(statement)
            return [
                AuditRecord(
                    id=row.id,
                    event=row.event,
                    at=row.at,
                    user_id=row.user_id,
                    session_id=row.session_id,
                    actor=row.actor,
                    ip=row.ip,
                    user_agent=row.user_agent,
                    detail=row.detail,
                )
                for row in rows
            ]
