"""``sessionjwt providers list``: the identity providers this configuration signs in with, and
the callback URL to register at each."""

from __future__ import annotations

import typer
from rich.markup import escape

from sessionjwt.accounts.providers.config import parse_providers
from sessionjwt.errors import ConfigurationError
from sessionjwt.server.console import AsJson, console, listing, usage_error
from sessionjwt.settings import Settings

providers_app = typer.Typer(help="Identity providers (SESSIONJWT_PROVIDERS).", no_args_is_help=True)


@providers_app.command("list")
def providers_list(as_json: AsJson = False) -> None:
    """Every configured provider, checked as at start-up; never its client secret."""
    settings = Settings()
    try:
        configured = parse_providers(settings.providers)
    except ConfigurationError as error:
        usage_error(f"[red]configuration error[/red]: {escape(str(error))}")
    if not configured and not as_json:
        console.print("no identity providers configured (SESSIONJWT_PROVIDERS)")
        return
    callback = settings.provider_callback_url
    columns = {
        "name": "name",
        "title": "shown as",
        "preset": "preset",
        "issuer": "issuer",
        "client_id": "client id",
        "trust_email": "trust email",
        "callback": "callback",
    }
    rows = [
        {
            "name": provider.name,
            "title": provider.title,
            "preset": provider.preset,
            "issuer": provider.issuer_url,
            "client_id": provider.client_id,
            "trust_email": provider.trust_email,
            "callback": callback.format(issuer=settings.issuer.rstrip("/"), name=provider.name),
        }
        for provider in configured.values()
    ]
    listing(columns, rows, as_json=as_json)
