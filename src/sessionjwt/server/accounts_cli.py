"""``sessionjwt users`` and ``sessionjwt sessions``: accounts, and the kill switches for their
sessions (disable, revoke one, revoke all)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sessionjwt.accounts.factors.store import FactorSummary, PasskeyListing
from sessionjwt.accounts.users import UserRecord
from sessionjwt.errors import SessionNotFound
from sessionjwt.facade import SessionJWT
from sessionjwt.server.console import (
    CLI_ACTOR,
    AsJson,
    console,
    errors,
    listing,
    run,
    stamp,
    usage_error,
    when,
)
from sessionjwt.sessions.model import SessionRecord
from sessionjwt.sessions.revoke import RevokeReason

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and revoke sessions.", no_args_is_help=True)


STDIN_HELP = (
    "Read the password from the first line of stdin (for scripts: it stays out of the shell "
    "history and the process list). Without it, the password is asked for on the terminal."
)


@users_app.command("create")
def users_create(
    email: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=STDIN_HELP)] = False,
    role: Annotated[list[str] | None, typer.Option(help="Role to grant; repeatable.")] = None,
) -> None:
    """Create an account, its address counted as verified: an operator vouches for it."""
    password = _read_password(from_stdin=password_stdin)
    user = run(
        lambda auth: auth.register(
            email, password, roles=role or (), actor=CLI_ACTOR, verified=True
        )
    )
    console.print(Text(f"created {user.email} ({user.id})"))


def _read_password(*, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            usage_error("--password-stdin: stdin gave no password (an empty first line)")
        return password
    if not sys.stdin.isatty():
        # typer would fall back to an echoing prompt; a script should say where it comes from.
        usage_error("no terminal to ask for the password: pipe it in with --password-stdin")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("list")
def users_list(limit: int = 100, as_json: AsJson = False) -> None:
    """List accounts."""
    records = run(lambda auth: auth.users.list(limit=limit))
    columns = {
        "id": "id",
        "email": "email",
        "roles": "roles",
        "created_at": "created",
        "disabled_at": "disabled",
    }
    rows = [
        {
            "id": user.id,
            "email": user.email,
            "roles": list(user.roles),
            "created_at": user.created_at,
            "disabled_at": user.disabled_at,
        }
        for user in records
    ]
    listing(columns, rows, as_json=as_json)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable an account: every one of its sessions is refused at once."""

    async def work(auth: SessionJWT) -> tuple[int, int]:
        user = await auth.users.require_by_email(email)
        live = len(await auth.list_sessions(user.id)), len(await auth.list_api_keys(user.id))
        await auth.set_user_disabled(user.id, True, actor=CLI_ACTOR)
        return live

    sessions, keys = run(work)
    ended = f"{_plural(sessions, 'live session')} and {_plural(keys, 'API key')}"
    console.print(Text(f"disabled {email}; its {ended} are refused from now on"))


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Re-enable an account (its old sessions stay dead)."""

    async def work(auth: SessionJWT) -> None:
        user = await auth.users.require_by_email(email)
        await auth.set_user_disabled(user.id, False, actor=CLI_ACTOR)

    run(work)
    console.print(f"enabled {email}")


@dataclass(frozen=True, slots=True)
class _Account:
    user: UserRecord
    factors: FactorSummary
    passkeys: list[PasskeyListing]


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


@users_app.command("show")
def users_show(email: str) -> None:
    """Show an account and its second factors (names and dates only, never a secret)."""

    async def work(auth: SessionJWT) -> _Account:
        user = await auth.users.require_by_email(email)
        factors = await auth.factors.summary(user.id)
        return _Account(user, factors, await auth.factors.store.passkey_listing(user.id))

    account = run(work)
    user, factors = account.user, account.factors
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    # Text(): an e-mail address or a passkey name is the user's, never Rich markup.
    for label, value in (
        ("email", user.email),
        ("id", user.id),
        ("roles", ",".join(user.roles) or "-"),
        ("verified", when(user.email_verified_at.timestamp()) if user.email_verified_at else "no"),
        ("disabled", when(user.disabled_at.timestamp()) if user.disabled_at else "no"),
        ("created", when(user.created_at.timestamp())),
        ("authenticator app", _yes_no(factors.totp)),
        ("passkeys", str(factors.passkeys)),
        ("recovery codes left", str(factors.recovery_codes_left)),
    ):
        facts.add_row(label, Text(value))
    console.print(facts)
    if account.passkeys:
        table = Table("passkey", "created", "last used")
        for passkey in account.passkeys:
            last_used = passkey.last_used_at.timestamp() if passkey.last_used_at else None
            table.add_row(Text(passkey.name), when(passkey.created_at.timestamp()), when(last_used))
        console.print(table)


def _factor_list(factors: FactorSummary) -> str:
    parts = []
    if factors.totp:
        parts.append("the authenticator app")
    if factors.passkeys:
        parts.append(f"{factors.passkeys} passkey{'s' if factors.passkeys != 1 else ''}")
    if factors.recovery_codes_left:
        count = factors.recovery_codes_left
        parts.append(f"{count} recovery code{'s' if count != 1 else ''}")
    return ", ".join(parts)


@users_app.command("mfa-reset")
def users_mfa_reset(
    email: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Remove every second factor and recovery code of an account that lost its device.

    Asks first (unless --yes); the user is mailed, every session of the account ends, and
    the reset is audited (mfa_reset)."""

    async def work(auth: SessionJWT) -> FactorSummary | None:
        user = await auth.users.require_by_email(email)
        factors = await auth.factors.summary(user.id)
        if not factors.any and not factors.recovery_codes_left:
            return factors
        question = (
            f"Remove {_factor_list(factors)} of {user.email} and sign out all of its sessions?"
        )
        if not yes and not await asyncio.to_thread(typer.confirm, question, default=False):
            return None
        return await auth.reset_factors(user.id, actor=CLI_ACTOR)

    removed = run(work)
    if removed is None:
        errors.print("nothing changed")
        raise typer.Exit(1)
    if not removed.any and not removed.recovery_codes_left:
        console.print(Text(f"{email} has no second factor; nothing changed"))
        return
    console.print(
        Text(f"removed {_factor_list(removed)} of {email}; every session of it has ended")
    )


@sessions_app.command("list")
def sessions_list(
    user: Annotated[str, typer.Option("--user", help="Account email.")],
    as_json: AsJson = False,
) -> None:
    """List an account's live sign-in sessions (its API keys: ``api-keys list``)."""

    async def work(auth: SessionJWT) -> list[SessionRecord]:
        record = await auth.users.require_by_email(user)
        return await auth.list_sessions(record.id)

    columns = {
        "id": "session",
        "created_at": "created",
        "last_seen_at": "last seen",
        "expires_at": "expires",
        "ip": "ip",
        "user_agent": "user agent",
    }
    rows = [
        {
            "id": s.id,
            "created_at": stamp(s.created_at),
            "last_seen_at": stamp(s.last_seen_at),
            "expires_at": stamp(s.expires_at),
            "ip": s.ip,
            "user_agent": s.user_agent,
        }
        for s in run(work)
    ]
    listing(columns, rows, as_json=as_json)


@sessions_app.command("revoke")
def sessions_revoke(
    session_id: Annotated[str | None, typer.Argument(help="Session to revoke.")] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Account email: needed with --all; with an id, a check."),
    ] = None,
    all_sessions: Annotated[bool, typer.Option("--all", help="Revoke every session.")] = False,
) -> None:
    """Revoke one session by its id, or --all of an account's sessions. Every instance
    refuses them from the next request."""
    if all_sessions == (session_id is not None):
        usage_error("give exactly one of SESSION_ID or --all")
    if all_sessions and user is None:
        usage_error("--all needs --user EMAIL")

    async def everything(auth: SessionJWT, email: str) -> int:
        record = await auth.users.require_by_email(email)
        live = len(await auth.list_sessions(record.id))
        await auth.revoke_user_sessions(record.id, actor=CLI_ACTOR)
        return live

    async def one(auth: SessionJWT, sid: str) -> bool:
        owner = (await auth.users.require_by_email(user)).id if user else None
        if owner is None and (owner := await auth.session_owner(sid)) is None:
            raise SessionNotFound()
        return await auth.revoke_session(
            sid, user_id=owner, reason=RevokeReason.ADMIN_REVOKED, actor=CLI_ACTOR
        )

    if session_id is None:
        email = user or ""  # --all without --user was refused above
        ended = run(lambda auth: everything(auth, email))
        console.print(Text(f"revoked {_plural(ended, 'live session')} of {email}"))
        return
    changed = run(lambda auth: one(auth, session_id))
    console.print(
        f"revoked session {session_id}"
        if changed
        else f"session {session_id} was already revoked; nothing changed"
    )
