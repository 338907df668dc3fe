"""``sessionjwt users`` and ``sessionjwt sessions``: accounts, and the kill switches for their
sessions (disable, revoke one, revoke all)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from sessionjwt.facade import SessionJWT
from sessionjwt.server.console import CLI_ACTOR, console, errors, run, when
from sessionjwt.sessions.revoke import RevokeReason

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and revoke sessions.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[list[str] | None, typer.Option(help="Role to grant; repeatable.")] = None,
) -> None:
    """Create an account, its address counted as verified: an operator vouches for it."""
    user = run(
        lambda auth: auth.register(
            email, password, roles=role or (), actor=CLI_ACTOR, verified=True
        )
    )
    console.print(f"created {user.email} ({user.id})")


@users_app.command("list")
def users_list(limit: int = 100) -> None:
    """List accounts."""
    records = run(lambda auth: auth.users.list(limit=limit))
    table = Table("id", "email", "roles", "created", "disabled")
    for user in records:
        table.add_row(
            user.id,
            user.email,
            ",".join(user.roles),
            when(user.created_at.timestamp()),
            when(user.disabled_at.timestamp()) if user.disabled_at else "",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable an account: every one of its sessions is refused at once."""

    async def work(auth: SessionJWT) -> None:
        user = await auth.users.require_by_email(email)
        await auth.set_user_disabled(user.id, True, actor=CLI_ACTOR)

    run(work)
    console.print(f"disabled {email}; all of its sessions are refused from now on")


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Re-enable an account (its old sessions stay dead)."""

    async def work(auth: SessionJWT) -> None:
        user = await auth.users.require_by_email(email)
        await auth.set_user_disabled(user.id, False, actor=CLI_ACTOR)

    run(work)
    console.print(f"enabled {email}")


@sessions_app.command("list")
def sessions_list(user: Annotated[str, typer.Option("--user", help="Account email.")]) -> None:
    """List an account's live sessions."""

    async def work(auth: SessionJWT) -> list[tuple[str, ...]]:
        record = await auth.users.require_by_email(user)
        return [
            (s.id, when(s.created_at), when(s.last_seen_at), s.ip or "", s.user_agent or "")
            for s in await auth.list_sessions(record.id)
        ]

    table = Table("session", "created", "last seen", "ip", "user agent")
    for row in run(work):
        table.add_row(*row)
    console.print(table)


@sessions_app.command("revoke")
def sessions_revoke(
    user: Annotated[str, typer.Option("--user", help="Account email.")],
    session_id: Annotated[str | None, typer.Argument(help="Session to revoke.")] = None,
    all_sessions: Annotated[bool, typer.Option("--all", help="Revoke every session.")] = False,
) -> None:
    """Revoke one session, or --all of an account's sessions. Effective on the next request."""
    if all_sessions == (session_id is not None):
        errors.print("give exactly one of SESSION_ID or --all")
        raise typer.Exit(2)

    async def work(auth: SessionJWT) -> None:
        record = await auth.users.require_by_email(user)
        if session_id is None:
            await auth.revoke_user_sessions(record.id, actor=CLI_ACTOR)
        else:
            await auth.revoke_session(
                session_id, user_id=record.id, reason=RevokeReason.ADMIN_REVOKED, actor=CLI_ACTOR
            )

    run(work)
    console.print("revoked all sessions" if all_sessions else f"revoked session {session_id}")
