"""``sessionjwt users`` and ``sessionjwt sessions``: accounts, and the kill switches for their
sessions (disable, revoke one, revoke all)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sessionjwt.accounts.factors.store import FactorSummary, PasskeyListing
from sessionjwt.accounts.users import UserRecord
from sessionjwt.facade import SessionJWT
from sessionjwt.server.console import CLI_ACTOR, console, errors, run, when
from sessionjwt.sessions.revoke import RevokeReason

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and revoke sessions.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[list[str] | None, typer.Option(help="Role to grant; repeatable.")] = None,
) -> None:
    """Create an account, its address counted as verified: an operator vouches for it."""
    user = run(
        lambda auth: auth.register(
            email, password, roles=role or (), actor=CLI_ACTOR, verified=True
        )
    )
    console.print(f"created {user.email} ({user.id})")


@users_app.command("list")
def users_list(limit: int = 100) -> None:
    """List accounts."""
    records = run(lambda auth: auth.users.list(limit=limit))
    table = Table("id", "email", "roles", "created", "disabled")
    for user in records:
        table.add_row(
            user.id,
            user.email,
            ",".join(user.roles),
            when(user.created_at.timestamp()),
            when(user.disabled_at.timestamp()) if user.disabled_at else "",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable an account: every one of its sessions is refused at once."""

    async def work(auth: SessionJWT) -> None:
        user = await auth.users.require_by_email(email)
        await auth.set_user_disabled(user.id, True, actor=CLI_ACTOR)

    run(work)
    console.print(f"disabled {email}; all of its sessions are refused from now on")


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
def sessions_list(user: Annotated[str, typer.Option("--user", help="Account email.")]) -> None:
    """List an account's live sessions."""

    async def work(auth: SessionJWT) -> list[tuple[str, ...]]:
        record = await auth.users.require_by_email(user)
        return [
            (s.id, when(s.created_at), when(s.last_seen_at), s.ip or "", s.user_agent or "")
            for s in await auth.list_sessions(record.id)
        ]

    table = Table("session", "created", "last seen", "ip", "user agent")
    for row in run(work):
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

    run(work)
    console.print("revoked all sessions" if all_sessions else f"revoked session {session_id}")
