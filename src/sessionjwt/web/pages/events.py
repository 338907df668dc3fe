"""Audit events in words: what the security and admin pages list.

The audit trail stores machine names ("sign_out_everywhere"); a person checking whether
someone else got into their account reads "Signed out everywhere", with when, from where
and on which device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sessionjwt.audit.trail import AuditEventType, AuditRecord
from sessionjwt.web.pages.user_agents import describe

_LABELS: dict[str, str] = {
    AuditEventType.REGISTER: "Account created",
    AuditEventType.LOGIN_OK: "Signed in",
    AuditEventType.LOGIN_FAILED: "Failed sign-in attempt",
    AuditEventType.REFRESH: "Session renewed",
    AuditEventType.REFRESH_REUSE_DETECTED: "Stolen session token detected; session ended",
    AuditEventType.LOGOUT: "Signed out",
    AuditEventType.SIGN_OUT_EVERYWHERE: "Signed out everywhere",
    AuditEventType.SESSION_REVOKED: "Device signed out",
    AuditEventType.USER_DISABLED: "Account disabled",
    AuditEventType.USER_ENABLED: "Account enabled",
    AuditEventType.PASSWORD_CHANGED: "Password changed",
    AuditEventType.PASSWORD_RESET_REQUESTED: "Password reset requested",
    AuditEventType.PASSWORD_RESET: "Password reset",
    AuditEventType.REAUTHENTICATED: "Password confirmed",
    AuditEventType.PASSKEY_COUNTER_REGRESSED: "Passkey refused: it may have been copied",
}


@dataclass(frozen=True, slots=True)
class EventRow:
    what: str
    at: datetime
    ip: str | None
    device: str | None
    by_someone_else: bool


def event_rows(records: list[AuditRecord]) -> list[EventRow]:
    """Rows for a table, newest first as the audit query returns them."""
    return [
        EventRow(
            what=_LABELS.get(record.event, record.event.replace("_", " ").capitalize()),
            at=record.at,
            ip=record.ip,
            device=describe(record.user_agent) if record.user_agent else None,
            by_someone_else=record.actor is not None and record.actor != record.user_id,
        )
        for record in records
    ]
