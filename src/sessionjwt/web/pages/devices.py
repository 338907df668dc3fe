"""Your devices: every live session of the user, and the buttons that end them.

People recognise "Firefox 128 on Windows", not a session id, so each session is named by
its parsed user agent; the raw string stays one click away for the unusual ones. Signing
out one other device needs only the live session (it can only reduce access); signing out
every other device needs a fresh password, like the other sensitive actions.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the Annotated aliases.
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from sessionjwt.principal import Principal
from sessionjwt.sessions.model import SessionRecord
from sessionjwt.sessions.revoke import RevokeReason
from sessionjwt.web.binding import web_of
from sessionjwt.web.pages.routing import Pages, see_other
from sessionjwt.web.pages.user_agents import describe

DEVICES_PATH = "/devices"
OTHERS_SIGNED_OUT = "Signed out every other device."
# How a session signed in, from its ``amr`` (RFC 8176): the first factor, then the second.
# "otp" is a code from the authenticator app or a recovery code: the session cannot tell.
FIRST_FACTORS = {"pwd": "Password", "hwk": "Passkey", "swk": "Passkey"}
SECOND_FACTORS = {"otp": "one-time code", "hwk": "passkey", "swk": "passkey"}

Csrf = Annotated[str, Form(max_length=128)]


@dataclass(frozen=True, slots=True)
class Device:
    """One session as the devices and admin pages show it."""

    id: str
    name: str
    user_agent: str | None
    ip: str | None
    created_at: float
    last_seen_at: float
    current: bool
    signed_in_with: str = "Unknown"


def sign_in_label(
    amr: Sequence[str], idp: str | None, provider_titles: Mapping[str, str] | None = None
) -> str:
    """ "Password", "Password + one-time code", "Passkey", "Google + passkey", ..."""
    first: str | None = None
    second: list[str] = []
    for method in amr:
        if first is None:
            if method == "fed":  # a provider no longer configured: named as its title would be
                name = idp or "an identity provider"
                first = (provider_titles or {}).get(name, name.replace("-", " ").title())
            else:
                first = FIRST_FACTORS.get(method)
        elif method in SECOND_FACTORS and SECOND_FACTORS[method] not in second:
            if not (method in ("hwk", "swk") and first == "Passkey"):
                second.append(SECOND_FACTORS[method])
    if first is None:
        return "Unknown"
    return " + ".join([first, *second])


def devices_of(
    records: list[SessionRecord],
    current_session_id: str | None,
    provider_titles: Mapping[str, str] | None = None,
) -> list[Device]:
    """The caller's own device first, then the most recently active."""
    devices = [
        Device(
            id=record.id,
            name=describe(record.user_agent),
            signed_in_with=sign_in_label(record.methods, record.idp, provider_titles),
            user_agent=record.user_agent,
            ip=record.ip,
            created_at=record.created_at,
            last_seen_at=record.last_seen_at,
            current=record.id == current_session_id,
        )
        for record in records
    ]
    devices.sort(key=lambda device: (not device.current, -device.last_seen_at))
    return devices


def provider_titles(pages: Pages) -> dict[str, str]:
    """``idp`` → the provider's title ("google" → "Google"), for the sign-in labels."""
    providers = pages.auth.providers
    configured = providers.configured() if providers is not None else []
    return {provider.name: provider.title for provider in configured}


def add_device_routes(router: APIRouter, pages: Pages) -> None:
    auth = pages.auth
    CurrentPrincipal = Annotated[Principal, Depends(web_of(auth).dependencies.principal)]

    @router.get(DEVICES_PATH)
    async def devices_page(
        request: Request, principal: CurrentPrincipal, revoked: str = "", others: str = ""
    ) -> Response:
        notice = OTHERS_SIGNED_OUT if others else None
        if revoked and len(revoked) <= 128:
            loaded = await auth.session_store.load(revoked)
            # Only name a session of this user: the parameter is typed by whoever made the link.
            if loaded is not None and loaded[0].user_id == principal.user_id:
                notice = f"Signed out {describe(loaded[0].user_agent)}."
        records = await auth.list_sessions(principal.user_id)
        return pages.renderer.page(
            request,
            "devices.html",
            title="Your devices",
            principal=principal,
            notice=notice,
            devices=devices_of(records, principal.session_id, provider_titles(pages)),
        )

    @router.post(DEVICES_PATH + "/revoke-others")
    async def revoke_others(
        request: Request, principal: CurrentPrincipal, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        if (detour := await pages.fresh_or_reauth(principal, DEVICES_PATH)) is not None:
            return detour
        await auth.revoke_user_sessions(
            principal.user_id,
            keep_session_id=principal.session_id,
            actor=principal.user_id,
            client=pages.client(request),
        )
        return see_other(DEVICES_PATH + "?others=1")

    @router.post(DEVICES_PATH + "/{session_id}/revoke")
    async def revoke_device(
        request: Request, session_id: str, principal: CurrentPrincipal, csrf_token: Csrf = ""
    ) -> Response:
        pages.check_form(request, csrf_token)
        # Scoped to the caller: another user's session id is "not found", never revoked.
        await auth.revoke_session(
            session_id,
            user_id=principal.user_id,
            reason=RevokeReason.USER_REVOKED,
            actor=principal.user_id,
            client=pages.client(request),
        )
        return see_other(f"{DEVICES_PATH}?revoked={quote(session_id, safe='')}")
