"""``sessionjwt keys``, ``clients`` and ``master-key``: the signing keys (rotate, retire, the
emergency rotation), the resource servers allowed to introspect, and the master key."""

from __future__ import annotations

from typing import Annotated

import typer

from sessionjwt.errors import ConfigurationError
from sessionjwt.facade import SessionJWT
from sessionjwt.keys.master import MasterKeys, generate_master_key
from sessionjwt.keys.store import KeyInfo, Rotation
from sessionjwt.server.console import CLI_ACTOR, AsJson, console, errors, listing, run, stamp

keys_app = typer.Typer(help="Signing keys: list, rotate, retire.", no_args_is_help=True)
clients_app = typer.Typer(
    help="Resource servers allowed to introspect tokens (RFC 7662).", no_args_is_help=True
)
master_key_app = typer.Typer(help="Rotate the master key that wraps signing keys.")


@keys_app.command("list")
def keys_list(as_json: AsJson = False) -> None:
    """Every signing key and its state (next, active, retiring, retired)."""

    async def work(auth: SessionJWT) -> list[KeyInfo]:
        return await auth.list_keys()

    columns = {
        "kid": "kid",
        "alg": "alg",
        "state": "state",
        "created_at": "created",
        "activated_at": "signing since",
        "deactivated_at": "stopped signing",
        "retired_at": "retired",
    }
    rows = [
        {
            "kid": key.kid,
            "alg": key.alg,
            "state": key.state,
            "created_at": stamp(key.created_at),
            "activated_at": stamp(key.activated_at),
            "deactivated_at": stamp(key.deactivated_at),
            "retired_at": stamp(key.retired_at),
        }
        for key in run(work)
    ]
    listing(columns, rows, as_json=as_json)


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

    rotation = run(work)
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

    run(work)
    console.print(f"retired {kid}: its tokens are refused with key_retired")


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Argument(help="Who this client is, for humans.")],
    client_credentials: Annotated[
        bool,
        typer.Option(
            "--client-credentials",
            help="A service client: it may also obtain its own tokens at /oauth/token "
            "(RFC 6749 §4.4).",
        ),
    ] = False,
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="A scope it may ask for (repeat the option); needs --client-credentials.",
        ),
    ] = None,
) -> None:
    """Register a client (a resource server, or with --client-credentials a service client);
    prints its id and secret. The secret is shown only now."""
    created = run(
        lambda auth: auth.create_client(
            name, actor=CLI_ACTOR, client_credentials=client_credentials, scopes=scopes or ()
        )
    )
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
    as_json: AsJson = False,
) -> None:
    """List registered clients (never their secrets)."""
    records = run(lambda auth: auth.list_clients(include_deleted=include_deleted))
    columns = {
        "client_id": "client id",
        "name": "name",
        "grants": "grants",
        "scopes": "scopes",
        "created_at": "created",
        "deleted_at": "deleted",
    }
    rows = [
        {
            "client_id": record.client_id,
            "name": record.name,
            "grants": list(record.grant_types) or ["introspection"],
            "scopes": list(record.scopes),
            "created_at": record.created_at,
            "deleted_at": record.deleted_at,
        }
        for record in records
    ]
    listing(columns, rows, as_json=as_json)


@clients_app.command("delete")
def clients_delete(client_id: str) -> None:
    """Delete a client: its credentials, and every token it obtained, are refused from the
    next request on, on every instance."""
    run(lambda auth: auth.delete_client(client_id, actor=CLI_ACTOR))
    console.print(f"deleted client {client_id}")


def _master_keys(auth: SessionJWT) -> MasterKeys:
    if auth.master_keys is None:  # start() has run in run(); this is for the type checker
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

    current, report = run(work)
    console.print(
        f"re-wrapped {report.rewrapped} rows under master key {current}; "
        f"{report.already_current} already were"
    )


@master_key_app.command("status")
def master_key_status(as_json: AsJson = False) -> None:
    """How many stored rows each master key wraps: the old key may go when it wraps none."""
    from sessionjwt.keys.rewrap import rows_by_master_key

    async def work(auth: SessionJWT) -> tuple[MasterKeys, dict[str | None, int]]:
        return _master_keys(auth), dict(await rows_by_master_key(auth.database))

    keys, counts = run(work)
    rows = [
        {
            "master_key_id": key_id,
            "configured_as": (
                "current"
                if key_id == keys.current_id
                else "previous"
                if key_id in keys.ids
                else "not recorded (written before 0004)"
                if key_id is None
                else "NOT CONFIGURED"
            ),
            "rows": counts.get(key_id, 0),
        }
        for key_id in dict.fromkeys([*keys.ids, *counts])
    ]
    columns = {"master_key_id": "master key id", "configured_as": "configured as", "rows": "rows"}
    listing(columns, rows, as_json=as_json)
