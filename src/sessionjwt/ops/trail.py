"""Reading the audit trail for operators: one page at a time, newest first, by user id or
e-mail address."""

from __future__ import annotations

from sessionjwt.accounts.users import UserStore
from sessionjwt.audit.query import AuditFilter, AuditPage
from sessionjwt.audit.trail import AuditLog


class AuditReader:
    def __init__(self, audit: AuditLog, users: UserStore) -> None:
        self._audit = audit
        self._users = users

    async def page(self, query: AuditFilter) -> AuditPage:
        user_id = query.user
        if user_id is not None and "@" in user_id:
            found = await self._users.find_by_email(user_id)
            if found is None:
                return AuditPage([], None)
            user_id = found.id
        events = await self._audit.query(
            user_id=user_id,
            event=query.event,
            since=query.since,
            until=query.until,
            limit=query.limit,
            before_id=query.before_id,
        )
        more = len(events) == query.limit
        return AuditPage(events, str(events[-1].id) if more else None)
