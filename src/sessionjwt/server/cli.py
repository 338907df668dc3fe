"""``sessionjwt``: serve, migrate, and the operator's kill switches (users, sessions)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sessionjwt.errors import ConfigurationError, SessionJWTError
from sessionjwt.masterkeys import ENV_SOURCE_WARNING, MasterKeys, generate_master_key
from sessionjwt.revoke import RevokeReason
from sessionjwt.service import SessionJWT
from sessionjwt.settings import Settings

app = typer.Typer(help="Stateful JWT authentication service.", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and revoke sessions.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(sessions_app, name="sessions")
master_key_app = typer.Typer(help="Rotate the master key that wraps signing keys.")
app.add_typer(master_key_app, name="master-key", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
CLI_ACTOR = "cli"


def _run(work: Callable[[SessionJWT], Awaitable[T]]) -> T:
    async def main() -> T:
        auth = SessionJWT(Settings())
        try:
            await auth.start(migrate=None)
            return await work(auth)
        finally:
            await auth.close()

    try:
        return asyncio.run(main())
    except SessionJWTError as error:
        errors.print(f"[red]error[/red] {error.code}: {error.message}")
        raise typer.Exit(1) from error
    except ConfigurationError as error:
        errors.print(f"[red]configuration error[/red]: {error}")
        raise typer.Exit(2) from error


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _preflight(auth: SessionJWT) -> None:
    """Fail before binding the port, with one readable line, on a stale schema or a bad key."""
    try:
        await auth.start()
    finally:
        await auth.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the HTTP service (SQLite by default, migrated on first run)."""
    import uvicorn

    from sessionjwt.server.app import create_app

    settings = Settings()
    if settings.master_key_source == "env":
        errors.print(f"[bold red]WARNING[/bold red] {ENV_SOURCE_WARNING}")
    try:
        asyncio.run(_preflight(SessionJWT(settings)))
        application = create_app(settings)
    except ConfigurationError as error:
        errors.print(f"[red]configuration error[/red]: {error}")
        raise typer.Exit(2) from error
    uvicorn.run(application, host=host, port=port, proxy_headers=False, server_header=False)


@app.command()
def migrate() -> None:
    """Apply the database migrations (needed before serving on PostgreSQL)."""
    from sessionjwt.db.migrate import upgrade

    settings = Settings()
    asyncio.run(upgrade(settings.resolved_database_url))
    console.print("database schema is up to date")


@users_app.command("create")
def users_create(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[list[str] | None, typer.Option(help="Role to grant; repeatable.")] = None,
) -> None:
    """Create an account."""
    user = _run(lambda auth: auth.register(email, password, roles=role or (), actor=CLI_ACTOR))
    console.print(f"created {user.email} ({user.id})")


@users_app.command("list")
def users_list(limit: int = 100) -> None:
    """List accounts."""
    records = _run(lambda auth: auth.users.list(limit=limit))
    table = Table("id", "email", "roles", "created", "disabled")
    for user in records:
        table.add_row(
            user.id,
            user.email,
            ",".join(user.roles),
            _when(user.created_at.timestamp()),
            _when(user.disabled_at.timestamp()) if user.disabled_at else "",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable an account: every one of its sessions is refused at once."""

    async def work(auth: SessionJWT) -> None:
        user = await auth.users.require_by_email(email)
        await auth.set_user_disabled(user.id, True, actor=CLI_ACTOR)

    _run(work)
    console.print(f"disabled {email}; all of its sessions are refused from now on")


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Re-enable an account (its old sessions stay dead)."""

    async def work(auth: SessionJWT) -> None:
        user = await auth.users.require_by_email(email)
        await auth.set_user_disabled(user.id, False, actor=CLI_ACTOR)

    _run(work)
    console.print(f"enabled {email}")


@sessions_app.command("list")
def sessions_list(user: Annotated[str, typer.Option("--user", help="Account email.")]) -> None:
    """List an account's live sessions."""

    async def work(auth: SessionJWT) -> list[tuple[str, ...]]:
        record = await auth.users.require_by_email(user)
        return [
            (s.id, _when(s.created_at), _when(s.last_seen_at), s.ip or "", s.user_agent or "")
            for s in await auth.list_sessions(record.id)
        ]

    table = Table("session", "created", "last seen", "ip", "user agent")
    for row in _run(work):
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

    _run(work)
    console.print("revoked all sessions" if all_sessions else f"revoked session {session_id}")


def _master_keys(auth: SessionJWT) -> MasterKeys:
    if auth.master_keys is None:  # start() has run in _run; this is for the type checker
        raise ConfigurationError("master keys are not loaded")
    return auth.master_keys


@master_key_app.command("generate")
def master_key_generate() -> None:
    """Print a new random master key (base64url) for your secret manager; nothing is stored."""
    print(generate_master_key())  # plain stdout, so it can be piped straight into a store
    errors.print(
        "store it in your secret manager, then configure it as the current master key and the "
        "old one as SESSIONJWT_MASTER_KEY_PREVIOUS (docs/keys-and-secrets.md)"
    )


@master_key_app.command("rewrap")
def master_key_rewrap() -> None:
    """Re-encrypt every stored private key under the current master key (one transaction)."""
    from sessionjwt.tokens.rewrap import RewrapReport, rewrap

    async def work(auth: SessionJWT) -> tuple[str, RewrapReport]:
        keys = _master_keys(auth)
        return keys.current_id, await rewrap(auth.database, keys)

    current, report = _run(work)
    console.print(
        f"re-wrapped {report.rewrapped} rows under master key {current}; "
        f"{report.already_current} already were"
    )


@master_key_app.command("status")
def master_key_status() -> None:
    """How many stored rows each master key wraps: the old key may go when it wraps none."""
    from sessionjwt.tokens.rewrap import rows_by_master_key

    async def work(auth: SessionJWT) -> tuple[MasterKeys, dict[str | None, int]]:
        return _master_keys(auth), dict(await rows_by_master_key(auth.database))

    keys, counts = _run(work)
    table = Table("master key id", "configured as", "rows")
    for key_id in dict.fromkeys([*keys.ids, *counts]):
        role = (
            "current"
            if key_id == keys.current_id
            else "previous"
            if key_id in keys.ids
            else "not recorded (written before 0004)"
            if key_id is None
            else "NOT CONFIGURED"
        )
        table.add_row(key_id or "-", role, str(counts.get(key_id, 0)))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
