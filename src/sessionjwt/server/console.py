"""What every command shares: the consoles, running one piece of work on a started service
with its errors turned into one readable line and an exit status, and listings printed as a
table for people or as JSON Lines (``--json``) for scripts.

Exit statuses, the same for every command: 0 done; 1 refused (not found, nothing changed,
declined at the prompt); 2 usage or configuration error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sessionjwt.errors import ConfigurationError, SessionJWTError
from sessionjwt.facade import SessionJWT
from sessionjwt.settings import Settings

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
CLI_ACTOR = "cli"
EXIT_REFUSED = 1
EXIT_USAGE = 2

AsJson = Annotated[
    bool,
    typer.Option("--json", help="One JSON object per line; times in ISO 8601 UTC, none: null."),
]


def run(work: Callable[[SessionJWT], Awaitable[T]]) -> T:
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
        raise typer.Exit(EXIT_REFUSED) from error
    except ConfigurationError as error:
        usage_error(f"[red]configuration error[/red]: {escape(str(error))}")


def usage_error(message: str) -> NoReturn:
    """One line on stderr and exit status 2 (a mistake in how the command was called)."""
    errors.print(message, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def stamp(seconds: float | None) -> datetime | None:
    """Epoch seconds (as stored) as an aware datetime, for a listing row."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def listing(
    columns: Mapping[str, str], rows: Iterable[Mapping[str, object]], *, as_json: bool
) -> None:
    """Print ``rows`` (``columns`` maps each row key to its table header): a table, or with
    ``as_json`` one JSON object per row, keys as given, so scripts need no screen-scraping."""
    if as_json:
        for row in rows:
            typer.echo(json.dumps({key: _json_value(row[key]) for key in columns}))
        return
    table = Table(*columns.values())
    for row in rows:
        # Text(): names, e-mails and user agents are users' words, never Rich markup.
        table.add_row(*(Text(_cell(row[key])) for key in columns))
    console.print(table)


def _json_value(value: object) -> object:
    if isinstance(value, datetime):  # naive ones are stored UTC (SQLite)
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _cell(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return when(value.timestamp())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return " ".join(str(item) for item in value) or "-"
    return str(value)
