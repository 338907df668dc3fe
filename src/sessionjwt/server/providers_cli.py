"""``sessionjwt providers list``: the identity providers this configuration signs in with, and
the callback URL to register at each."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from sessionjwt.accounts.providers.config import parse_providers
from sessionjwt.errors import ConfigurationError
from sessionjwt.server.console import console, errors
from sessionjwt.settings import Settings

providers_app = typer.Typer(help="Identity providers (SESSIONJWT_PROVIDERS).", no_args_is_help=True)


@providers_app.command("list")
def providers_list() -> None:
    """Every configured provider, checked as at start-up; never its client secret."""
    settings = Settings()
    try:
        configured = parse_providers(settings.providers)
    except ConfigurationError as error:
        errors.print(f"[red]configuration error[/red]: {escape(str(error))}")
        raise typer.Exit(2) from error
    if not configured:
        console.print("no identity providers configured (SESSIONJWT_PROVIDERS)")
        return
    table = Table("name", "shown as", "preset", "issuer", "client id", "trust email", "callback")
    callback = settings.provider_callback_url
    for provider in configured.values():
        table.add_row(
            provider.name,
            provider.title,
            provider.preset,
            provider.issuer_url or "-",
            provider.client_id,
            "yes" if provider.trust_email else "no",
            callback.format(issuer=settings.issuer.rstrip("/"), name=provider.name),
        )
    console.print(table)
