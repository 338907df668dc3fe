"""The SQL session store (SQLite and PostgreSQL through SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionjwt.audit.trail import AuditEvent, write_events
from sessionjwt.clock import to_datetime, to_seconds
from sessionjwt.db.engine import Database
from sessionjwt.db.tables import deployment_state, sessions, users
from sessionjwt.sessions.model import SESSION_KIND, SessionRecord, UserState


def _optional_seconds(value: Any) -> float | None:
    return None if value is None else to_seconds(value)


def session_from_row(row: Any) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        created_at=to_seconds(row.created_at),
        authenticated_at=to_seconds(row.authenticated_at),
        user_generation=row.user_generation,
        last_seen_at=to_seconds(row.last_seen_at),
        expires_at=to_seconds(row.expires_at),
        idle_timeout=float(row.idle_timeout_seconds),
        revoked_at=_optional_seconds(row.revoked_at),
        revoked_reason=row.revoked_reason,
        user_agent=row.user_agent,
        ip=row.ip,
        refresh_hash=row.refresh_hash,
        refresh_generation=row.refresh_generation,
        refresh_rotated_at=_optional_seconds(row.refresh_rotated_at),
        deployment_generation=row.deployment_generation,
        amr=row.amr,
        idp=row.idp,
        identity_id=row.identity_id,
        idp_sid=row.idp_sid,
        mfa_at=_optional_seconds(row.mfa_at),
        kind=row.kind,
        name=row.name,
        scopes=row.scopes,
        key_prefix=row.key_prefix,
        key_hash=row.key_hash,
    )


# No row (a schema made without migrations) reads as generation 0.
_DEPLOYMENT_GENERATION = func.coalesce(deployment_state.c.session_generation, 0)

_USER_COLUMNS = (
    users.c.email.label("u_email"),
    users.c.roles.label("u_roles"),
    users.c.disabled_at.label("u_disabled_at"),
    users.c.session_generation.label("u_generation"),
    users.c.email_verified_at.label("u_email_verified_at"),
)


async def _next_generation(connection: AsyncConnection, user_id: str) -> int | None:
    """Increment the user's session generation in place; the new value, or None if no user."""
    result = await connection.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(session_generation=users.c.session_generation + 1)
        .returning(users.c.session_generation)
    )
    row = result.first()
    return None if row is None else int(row[0])


class SqlSessionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, session: SessionRecord, events: Sequence[AuditEvent] = ()) -> None:
        async with self._db.write() as connection:
            await connection.execute(
                sessions.insert().values(
                    id=session.id,
                    user_id=session.user_id,
                    created_at=to_datetime(session.created_at),
                    authenticated_at=to_datetime(session.authenticated_at),
                    user_generation=select(users.c.session_generation)
                    .where(users.c.id == session.user_id)
                    .scalar_subquery(),
                    deployment_generation=func.coalesce(
                        select(deployment_state.c.session_generation)
                        .where(deployment_state.c.id == 1)
                        .scalar_subquery(),
                        0,
                    ),
                    last_seen_at=to_datetime(session.last_seen_at),
                    expires_at=to_datetime(session.expires_at),
                    idle_timeout_seconds=int(session.idle_timeout),
                    user_agent=session.user_agent,
                    ip=session.ip,
                    refresh_hash=session.refresh_hash,
                    refresh_generation=session.refresh_generation,
                    amr=session.amr,
                    idp=session.idp,
                    identity_id=session.identity_id,
                    idp_sid=session.idp_sid,
                    mfa_at=None if session.mfa_at is None else to_datetime(session.mfa_at),
                    kind=session.kind,
                    name=session.name,
                    scopes=session.scopes,
                    key_prefix=session.key_prefix,
                    key_hash=session.key_hash,
                )
            )
            await write_events(connection, events)

    async def load(self, session_id: str) -> tuple[SessionRecord, UserState] | None:
        statement = (
            select(sessions, *_USER_COLUMNS, _DEPLOYMENT_GENERATION.label("d_generation"))
            .join(users, users.c.id == sessions.c.user_id)
            .outerjoin(deployment_state, deployment_state.c.id == 1)
            .where(sessions.c.id == session_id)
        )
        async with self._db.read() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            return None
        user = UserState(
            id=row.user_id,
            email=row.u_email,
            roles=tuple(row.u_roles or ()),
            disabled=row.u_disabled_at is not None,
            session_generation=row.u_generation,
            deployment_generation=row.d_generation,
            email_verified=row.u_email_verified_at is not None,
        )
        return session_from_row(row), user

    async def rotate_refresh(
        self,
        session_id: str,
        expected_hash: str,
        new_hash: str,
        now: float,
        events: Sequence[AuditEvent] = (),
    ) -> bool:
        statement = (
            update(sessions)
            .where(
                sessions.c.id == session_id,
                sessions.c.refresh_hash == expected_hash,
                sessions.c.revoked_at.is_(None),
            )
            .values(
                refresh_hash=new_hash,
                refresh_generation=sessions.c.refresh_generation + 1,
                refresh_rotated_at=to_datetime(now),
                last_seen_at=to_datetime(now),
            )
        )
        async with self._db.write() as connection:
            won = (await connection.execute(statement)).rowcount == 1
            if won:
                await write_events(connection, events)
        return won

    async def revoke(
        self,
        session_id: str,
        reason: str,
        now: float,
        events: Sequence[AuditEvent] = (),
        *,
        user_id: str | None = None,
    ) -> bool:
        conditions = [sessions.c.id == session_id, sessions.c.revoked_at.is_(None)]
        if user_id is not None:
            conditions.append(sessions.c.user_id == user_id)
        statement = (
            update(sessions)
            .where(*conditions)
            .values(revoked_at=to_datetime(now), revoked_reason=reason)
        )
        async with self._db.write() as connection:
            changed = (await connection.execute(statement)).rowcount == 1
            if changed:
                await write_events(connection, events)
        return changed

    async def reauthenticated(
        self, session_id: str, now: float, events: Sequence[AuditEvent] = ()
    ) -> bool:
        statement = (
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(authenticated_at=to_datetime(now))
        )
        async with self._db.write() as connection:
            changed = (await connection.execute(statement)).rowcount == 1
            if changed:
                await write_events(connection, events)
        return changed

    async def stepped_up(
        self,
        session_id: str,
        now: float,
        amr: str,
        events: Sequence[AuditEvent] = (),
        *,
        user_id: str | None = None,
    ) -> bool:
        statement = (
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(authenticated_at=to_datetime(now), mfa_at=to_datetime(now), amr=amr)
        )
        if user_id is not None:
            statement = statement.where(sessions.c.user_id == user_id)
        async with self._db.write() as connection:
            changed = (await connection.execute(statement)).rowcount == 1
            if changed:
                await write_events(connection, events)
        return changed

    async def end_user_sessions(
        self,
        user_id: str,
        events: Sequence[AuditEvent] = (),
        *,
        keep_session_id: str | None = None,
    ) -> int | None:
        async with self._db.write() as connection:
            generation = await _next_generation(connection, user_id)
            if generation is None:
                return None
            if keep_session_id is not None:
                await connection.execute(
                    update(sessions)
                    .where(sessions.c.id == keep_session_id, sessions.c.user_id == user_id)
                    .values(user_generation=generation)
                )
            await write_events(connection, events)
        return generation

    async def set_disabled(
        self, user_id: str, disabled: bool, now: float, events: Sequence[AuditEvent] = ()
    ) -> int | None:
        async with self._db.write() as connection:
            result = await connection.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(disabled_at=to_datetime(now) if disabled else None)
            )
            if result.rowcount != 1:
                return None
            # Disabling also moves the watermark, so re-enabling never resurrects old sessions.
            generation = await _next_generation(connection, user_id) if disabled else None
            if not disabled:
                found = await connection.execute(
                    select(users.c.session_generation).where(users.c.id == user_id)
                )
                generation = found.scalar_one()
            await write_events(connection, events)
        return generation

    async def list_live(
        self, user_id: str, now: float, kind: str = SESSION_KIND
    ) -> list[SessionRecord]:
        moment = to_datetime(now)
        statement = (
            select(sessions)
            .join(users, users.c.id == sessions.c.user_id)
            .outerjoin(deployment_state, deployment_state.c.id == 1)
            .where(
                sessions.c.deployment_generation == _DEPLOYMENT_GENERATION,
                sessions.c.user_id == user_id,
                sessions.c.kind == kind,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > moment,
                users.c.disabled_at.is_(None),
                sessions.c.user_generation == users.c.session_generation,
            )
            .order_by(sessions.c.created_at.desc())
        )
        async with self._db.read() as connection:
            rows = await connection.execute(statement)
            records = [session_from_row(row) for row in rows]
        return [record for record in records if now < record.last_seen_at + record.idle_timeout]

    async def prune_ended(self, ended_before: float, batch_size: int) -> int:
        moment = to_datetime(ended_before)
        victims = (
            select(sessions.c.id)
            .where(or_(sessions.c.expires_at < moment, sessions.c.revoked_at < moment))
            .limit(batch_size)
            .scalar_subquery()
        )
        async with self._db.write() as connection:
            result = await connection.execute(delete(sessions).where(sessions.c.id.in_(victims)))
        return int(result.rowcount or 0)

    async def touch(self, last_seen: Mapping[str, float]) -> None:
        if not last_seen:
            return
        statement = (
            update(sessions)
            .where(
                and_(
                    sessions.c.id == bindparam("sid"),
                    sessions.c.last_seen_at < bindparam("seen"),
                )
            )
            .values(last_seen_at=bindparam("seen"))
        )
        params = [{"sid": sid, "seen": to_datetime(seen)} for sid, seen in last_seen.items()]
        async with self._db.write() as connection:
            await connection.execute(statement, params)
