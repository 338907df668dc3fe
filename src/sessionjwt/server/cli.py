"""``sessionjwt``: serve, migrate, the operator's kill switches (users, sessions, keys), and
the resource servers allowed to introspect tokens (clients)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sessionjwt.audit.query import MAX_LIMIT, AuditFilter, AuditPage
from sessionjwt.errors import ConfigurationError, SessionJWTError
from sessionjwt.facade import SessionJWT
from sessionjwt.keys.master import ENV_SOURCE_WARNING, MasterKeys, generate_master_key
from sessionjwt.keys.store import KeyInfo, Rotation
from sessionjwt.sessions.revoke import RevokeReason
from sessionjwt.settings import Settings

app = typer.Typer(help="Stateful JWT authentication service.", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and revoke sessions.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(sessions_app, name="sessions")
keys_app = typer.Typer(help="Signing keys: list, rotate, retire.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
clients_app = typer.Typer(
    help="Resource servers allowed to introspect tokens (RFC 7662).", no_args_is_help=True
)
app.add_typer(clients_app, name="clients")
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


WORKERS_HELP = (
    "Worker processes (uvicorn's supervisor; default 1). Raise it towards the number of cores "
    "when one worker is CPU-bound on a multi-core host. Each worker is its own process: its "
    "own memory cache and its own member of the invalidation feed (SQLite: the shared epoch "
    "file; PostgreSQL: Redis). Migrations and the first keys are made once, before any "
    "worker starts."
)
ACCESS_LOG_HELP = (
    "One JSON line per request on stderr (logger sessionjwt.access): method, path without "
    "query string, status, duration, client IP; never a token, cookie or header. Default: "
    "SESSIONJWT_ACCESS_LOG, off."
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, envvar="SESSIONJWT_WORKERS", help=WORKERS_HELP)
    ] = 1,
    access_log: Annotated[
        bool | None, typer.Option("--access-log/--no-access-log", help=ACCESS_LOG_HELP)
    ] = None,
) -> None:
    """Run the HTTP service (SQLite by default, migrated on first run).

    SIGTERM (or Ctrl-C) stops it gracefully: requests in flight finish, then every worker
    writes its coalesced last-seen times and leaves the invalidation feed, and the command
    exits 0.
    """
    import uvicorn

    if access_log is not None:
        # The workers build their settings from the environment (they are fresh processes):
        # the flag reaches them, and this process's own Settings(), this way.
        os.environ["SESSIONJWT_ACCESS_LOG"] = "true" if access_log else "false"
    settings = Settings()
    if settings.master_key_source == "env":
        errors.print(f"[bold red]WARNING[/bold red] {ENV_SOURCE_WARNING}")
    try:
        # Once, here, before any worker exists: migrate, create the master key and the first
        # signing key, and fail with one readable line on a stale schema or a bad key.
        asyncio.run(_preflight(SessionJWT(settings)))
    except ConfigurationError as error:
        errors.print(f"[red]configuration error[/red]: {error}")
        raise typer.Exit(2) from error
    # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done; a stop
    # that was asked for is a success, not a death by signal.
    signal.signal(signal.SIGTERM, _exit_after_sigterm)
    uvicorn.run(
        "sessionjwt.server.app:service_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # X-Forwarded-For is judged by SESSIONJWT_TRUSTED_PROXIES
        server_header=False,
        access_log=False,  # uvicorn's line holds the query string; ours (--access-log) not
    )


def _exit_after_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@app.command()
def audit(
    user: Annotated[str | None, typer.Option(help="Account email (or user id).")] = None,
    event: Annotated[str | None, typer.Option(help="Event type, e.g. login_failed.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 or epoch seconds.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 or epoch (exclusive).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The audit trail, newest first: who did what to which session, from where."""

    async def work(auth: SessionJWT) -> AuditPage:
        query = AuditFilter.parse(user=user, event=event, since=since, until=until, limit=limit)
        return await auth.audit_events(query)

    page = _run(work)
    if as_json:
        for record in page.events:
            row = {**asdict(record), "at": record.at.isoformat()}
            typer.echo(json.dumps(row, sort_keys=True, default=str))
        return
    table = Table("id", "at", "event", "user", "session", "actor", "ip", "detail")
    for record in page.events:
        table.add_row(
            str(record.id),
            _when(record.at.timestamp()),
            record.event,
            record.user_id or "",
            record.session_id or "",
            record.actor or "",
            record.ip or "",
            json.dumps(record.detail, sort_keys=True) if record.detail else "",
        )
    console.print(table)
    if page.next_cursor:
        errors.print(f"more events: narrow with --until or raise --limit (max {MAX_LIMIT})")


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


@keys_app.command("list")
def keys_list() -> None:
    """Every signing key and its state (next, active, retiring, retired)."""

    async def work(auth: SessionJWT) -> list[KeyInfo]:
        return await auth.list_keys()

    table = Table("kid", "alg", "state", "created", "signing since", "stopped signing", "retired")
    for key in _run(work):
        table.add_row(
            key.kid,
            key.alg,
            key.state,
            _when(key.created_at),
            _when(key.activated_at),
            _when(key.deactivated_at),
            _when(key.retired_at),
        )
    console.print(table)


@keys_app.command("rotate")
def keys_rotate(
    revoke_all: Annotated[
        bool,
        typer.Option(
            "--revoke-all",
            help="Breach: retire every key and end every session issued before now.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Promote the next key even if published less than key_publish_ahead."),
    ] = False,
) -> None:
    """Promote the published next key; the old one verifies until its tokens expire."""
    if revoke_all and not typer.confirm(
        "Retire every signing key and sign out every user on every instance?",
        default=False,
    ):
        raise typer.Exit(1)

    async def work(auth: SessionJWT) -> Rotation:
        return await auth.rotate_keys(revoke_all=revoke_all, force=force, actor=CLI_ACTOR)

    rotation = _run(work)
    if revoke_all:
        console.print(
            f"emergency rotation: every earlier key and session refused; {rotation.active_kid} "
            f"signs, {rotation.next_kid} is published next"
        )
    else:
        console.print(
            f"{rotation.active_kid} signs now; {rotation.retired_kid} verifies until its tokens "
            f"expire; {rotation.next_kid} is published next"
        )


@keys_app.command("retire")
def keys_retire(kid: Annotated[str, typer.Argument(help="Key to retire now.")]) -> None:
    """Refuse every token this key signed, on every instance, from the next request."""

    async def work(auth: SessionJWT) -> None:
        await auth.retire_key(kid, actor=CLI_ACTOR)

    _run(work)
    console.print(f"retired {kid}: its tokens are refused with key_retired")


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Argument(help="Who this client is, for humans.")],
) -> None:
    """Register a resource server; prints its id and secret. The secret is shown only now."""
    created = _run(lambda auth: auth.create_client(name, actor=CLI_ACTOR))
    # Plain lines on stdout, so a script can capture them; the warning goes to stderr.
    typer.echo(f"client_id: {created.record.client_id}")
    typer.echo(f"client_secret: {created.secret}")
    errors.print(
        "[yellow]the secret is shown once[/yellow]: store it in the resource server's secret "
        "manager now; only its hash is kept"
    )


@clients_app.command("list")
def clients_list(
    include_deleted: Annotated[
        bool, typer.Option("--all", help="Include deleted clients.")
    ] = False,
) -> None:
    """List registered clients (never their secrets)."""
    records = _run(lambda auth: auth.list_clients(include_deleted=include_deleted))
    table = Table("client id", "name", "created", "deleted")
    for record in records:
        table.add_row(
            record.client_id,
            record.name,
            _when(record.created_at.timestamp()),
            _when(record.deleted_at.timestamp()) if record.deleted_at else "",
        )
    console.print(table)


@clients_app.command("delete")
def clients_delete(client_id: str) -> None:
    """Delete a client: its credentials are refused from its next call on."""
    _run(lambda auth: auth.delete_client(client_id, actor=CLI_ACTOR))
    console.print(f"deleted client {client_id}")


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
    from sessionjwt.keys.rewrap import RewrapReport, rewrap

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
    from sessionjwt.keys.rewrap import rows_by_master_key

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
