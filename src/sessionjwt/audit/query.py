"""Reading the audit trail: filters as operators type them, pages newest first.

Times are ISO 8601 (``2027-01-15T10:00:00Z``; no offset means UTC) or epoch seconds. The
cursor is opaque to callers: pass back the ``next_cursor`` of the previous page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sessionjwt.audit.trail import AuditEventType, AuditRecord
from sessionjwt.errors import InvalidAuditQuery

MAX_LIMIT = 1000
_EPOCH = re.compile(r"\d{1,12}(\.\d{1,9})?")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    user: str | None = None  # an email, or a user id
    event: AuditEventType | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    limit: int = 100
    before_id: int | None = None  # from the cursor

    @classmethod
    def parse(
        cls,
        *,
        user: str | None = None,
        event: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AuditFilter:
        """Validate what an operator typed; :class:`InvalidAuditQuery` (422) names the field."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidAuditQuery(f"limit must be between 1 and {MAX_LIMIT}")
        kind = None
        if event:
            try:
                kind = AuditEventType(event)
            except ValueError:
                known = ", ".join(item.value for item in AuditEventType)
                raise InvalidAuditQuery(f"unknown event type; one of: {known}") from None
        start = parse_moment(since, "since") if since else None
        end = parse_moment(until, "until") if until else None
        if start is not None and end is not None and end <= start:
            raise InvalidAuditQuery("until must be later than since")
        before = None
        if cursor:
            if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19:
                raise InvalidAuditQuery("cursor is not one this service returned")
            before = int(cursor)
        return cls(user or None, kind, start, end, limit, before)


def parse_moment(text: str, name: str) -> datetime:
    """ISO 8601 (naive means UTC) or epoch seconds → an aware UTC datetime."""
    text = text.strip()
    try:
        if _EPOCH.fullmatch(text):
            return datetime.fromtimestamp(float(text), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidAuditQuery(f"{name} is not an ISO 8601 time or epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditRecord]
    next_cursor: str | None  # None: this was the last page
