"""What every command shares: the consoles, and running one piece of work on a started
service with its errors turned into one readable line and an exit status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from sessionjwt.errors import ConfigurationError, SessionJWTError
from sessionjwt.facade import SessionJWT
from sessionjwt.settings import Settings

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
CLI_ACTOR = "cli"


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
        raise typer.Exit(1) from error
    except ConfigurationError as error:
        errors.print(f"[red]configuration error[/red]: {escape(str(error))}")
        raise typer.Exit(2) from error


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
