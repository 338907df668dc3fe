"""What the throwaway database holds after the load: every acknowledged write must be there."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.faults.load import Load

REVOKE_EVENTS = ("logout", "session_revoked")


@dataclass(frozen=True, slots=True)
class Lost:
    sessions: list[str]  # a login answered 200, its session row is missing
    login_audit: list[str]  # ... or its login_ok audit row is
    revoke_audit: list[str]  # a revoke answered 2xx, no logout/session_revoked row
    not_revoked: list[str]  # a revoke answered 2xx, the row is not marked revoked

    def count(self) -> int:
        return sum(map(len, (self.sessions, self.login_audit, self.revoke_audit, self.not_revoked)))


async def _fetch(dsn: str) -> tuple[set[str], set[str], set[str], set[str]]:
    import asyncpg

    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        sessions = await connection.fetch("SELECT id, revoked_at FROM sessions")
        logins = await connection.fetch(
            "SELECT session_id FROM audit_events WHERE event = 'login_ok'"
        )
        revokes = await connection.fetch(
            "SELECT session_id FROM audit_events WHERE event = ANY($1::text[])",
            list(REVOKE_EVENTS),
        )
    finally:
        await connection.close()
    return (
        {row["id"] for row in sessions},
        {row["id"] for row in sessions if row["revoked_at"] is not None},
        {row["session_id"] for row in logins},
        {row["session_id"] for row in revokes},
    )


def lost_rows(dsn: str, load: Load) -> Lost:
    sessions, revoked, login_audit, revoke_audit = asyncio.run(_fetch(dsn))
    logged_in = [answer.session for answer in load.logins]
    done = [r.session for r in load.revokes if r.returned is not None]
    return Lost(
        sessions=[s for s in logged_in if s not in sessions],
        login_audit=[s for s in logged_in if s not in login_audit],
        revoke_audit=[s for s in done if s not in revoke_audit],
        not_revoked=[s for s in done if s not in revoked],
    )
