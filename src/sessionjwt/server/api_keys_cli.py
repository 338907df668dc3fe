"""``sessionjwt api-keys``: an operator lists an account's personal API keys and revokes one.

Revoking goes through the same Revoker as ``DELETE /auth/api-keys/{id}``: the running
instances hear of it through the invalidation feed and refuse the key on its next request.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sessionjwt.facade import SessionJWT
from sessionjwt.server.console import CLI_ACTOR, AsJson, console, listing, run, stamp
from sessionjwt.sessions.model import SessionRecord

api_keys_app = typer.Typer(help="List and revoke personal API keys.", no_args_is_help=True)


@api_keys_app.command("list")
def api_keys_list(
    user: Annotated[str, typer.Option("--user", help="Account email.")],
    as_json: AsJson = False,
) -> None:
    """List an account's live API keys (never a key or its hash)."""

    async def work(auth: SessionJWT) -> list[SessionRecord]:
        record = await auth.users.require_by_email(user)
        return await auth.list_api_keys(record.id)

    columns = {
        "id": "id",
        "name": "name",
        "prefix": "prefix",
        "scopes": "scopes",
        "created_at": "created",
        "last_used_at": "last used",
        "expires_at": "expires",
    }
    rows = [
        {
            "id": key.id,
            "name": key.name,
            "prefix": key.key_prefix,
            "scopes": list(key.scope_values),
            "created_at": stamp(key.created_at),
            "last_used_at": stamp(key.last_seen_at) if key.last_seen_at > key.created_at else None,
            "expires_at": stamp(key.expires_at),
        }
        for key in run(work)
    ]
    listing(columns, rows, as_json=as_json)


@api_keys_app.command("revoke")
def api_keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke one API key: every instance refuses it on its next request."""
    changed = run(lambda auth: auth.delete_api_key(key_id, actor=CLI_ACTOR))
    console.print(
        f"revoked API key {key_id}"
        if changed
        else f"API key {key_id} was already revoked; nothing changed"
    )
