"""``sessionjwt``: serve, migrate, the operator's kill switches (users, sessions, keys), and
the resource servers allowed to introspect tokens (clients)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sessionjwt.audit.query import MAX_LIMIT, AuditFilter, AuditPage
from sessionjwt.errors import ConfigurationError
from sessionjwt.facade import SessionJWT
from sessionjwt.keys.master import ENV_SOURCE_WARNING
from sessionjwt.server.accounts_cli import sessions_app, users_app
from sessionjwt.server.api_keys_cli import api_keys_app
from sessionjwt.server.console import AsJson, console, errors, run, usage_error, when
from sessionjwt.server.issuer import serving_issuer
from sessionjwt.server.keys_cli import clients_app, keys_app, master_key_app
from sessionjwt.server.providers_cli import providers_app
from sessionjwt.settings import Settings

app = typer.Typer(help="Stateful JWT authentication service.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(sessions_app, name="sessions")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.add_typer(master_key_app, name="master-key", no_args_is_help=True)
app.add_typer(providers_app, name="providers")


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

    from sessionjwt.server.http_limits import PROTOCOL, head_limit

    if access_log is not None:
        # The workers build their settings from the environment (they are fresh processes):
        # the flag reaches them, and this process's own Settings(), this way.
        os.environ["SESSIONJWT_ACCESS_LOG"] = "true" if access_log else "false"
    settings = Settings()
    try:
        issuer, derived = serving_issuer(settings, host, port)
    except ConfigurationError as error:
        usage_error(f"[red]configuration error[/red]: {escape(str(error))}")
    if derived:
        # The workers read their settings from the environment: they get the same issuer.
        os.environ["SESSIONJWT_ISSUER"] = issuer
        settings = Settings()
        errors.print(
            f"issuer {escape(issuer)} (from the bind address; SESSIONJWT_ISSUER sets it)",
            soft_wrap=True,
        )
    if settings.master_key_source == "env":
        errors.print(f"[bold red]WARNING[/bold red] {ENV_SOURCE_WARNING}")
    try:
        # Once, here, before any worker exists: migrate, create the master key and the first
        # signing key, and fail with one readable line on a stale schema or a bad key.
        asyncio.run(_preflight(SessionJWT(settings)))
    except ConfigurationError as error:
        usage_error(f"[red]configuration error[/red]: {escape(str(error))}")
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
        http=PROTOCOL,  # httptools, cutting off a request head past head_limit with a 431
        h11_max_incomplete_event_size=head_limit(settings),
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
    as_json: AsJson = False,
) -> None:
    """The audit trail, newest first: who did what to which session, from where."""

    async def work(auth: SessionJWT) -> AuditPage:
        query = AuditFilter.parse(user=user, event=event, since=since, until=until, limit=limit)
        return await auth.audit_events(query)

    page = run(work)
    if as_json:
        for record in page.events:
            row = {**asdict(record), "at": record.at.isoformat()}
            typer.echo(json.dumps(row, sort_keys=True, default=str))
        return
    table = Table("id", "at", "event", "user", "session", "actor", "ip", "detail")
    for record in page.events:
        table.add_row(
            str(record.id),
            when(record.at.timestamp()),
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
