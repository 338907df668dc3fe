"""FastAPI face of passkeys (WebAuthn): add one, sign in with it (alone, or as the second
step after a password), prove it again (step-up), list, rename and remove them.

Each ceremony is two calls: ``…/options`` answers the ``options`` to hand to
``navigator.credentials.create()``/``get()`` (WebAuthn's JSON form: base64url for bytes)
and a ``challenge_token``; the second call sends the browser's answer back with it. Every
refusal is the usual envelope ``{"error", "message"}``; codes and their meaning: docs/mfa.md,
"Passkeys". Browsers on the service's own pages sign in through the page routes instead
(:mod:`sessionjwt.web.pages.passkeys`), which answer with cookies.

Without py_webauthn (the ``mfa`` extra) the router is empty.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the local Annotated aliases.
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sessionjwt.client import ClientInfo
from sessionjwt.principal import Principal
from sessionjwt.web.binding import web_of
from sessionjwt.web.public import public
from sessionjwt.web.schemas import ErrorOut, TokenPairOut

if TYPE_CHECKING:
    from sessionjwt.accounts.factors.passkey_service import Ceremony, PasskeyInfo
    from sessionjwt.core import AuthCore

TOKEN_MAX = 128  # challenge_token and mfa_token are 43 characters
Credential = Annotated[dict[str, Any], Field(description="The PublicKeyCredential, as JSON")]
PasskeyId = Annotated[str, Path(min_length=1, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CeremonyOut(BaseModel):
    """``options`` go to ``navigator.credentials.create({publicKey})`` / ``get({publicKey})``
    once the base64url fields are decoded to bytes."""

    challenge_token: str | None = Field(
        description="Send it back with the answer; null for a pending sign-in's second step, "
        "whose challenge rides on the mfa_token."
    )
    expires_in: int
    options: dict[str, Any]

    @classmethod
    def of(cls, ceremony: "Ceremony") -> "CeremonyOut":
        return cls(
            challenge_token=ceremony.challenge_token,
            expires_in=ceremony.expires_in,
            options=ceremony.options,
        )


class PasskeyOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    synced: bool = Field(description="Backed up by its provider (a synced passkey).")

    @classmethod
    def of(cls, passkey: "PasskeyInfo") -> "PasskeyOut":
        return cls(
            id=passkey.id,
            name=passkey.name,
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
            synced=passkey.synced,
        )


class RegisteredOut(BaseModel):
    passkey: PasskeyOut
    recovery_codes: list[str] = Field(
        description="Ten new recovery codes, shown once, when the account had none left; "
        "else empty."
    )


class RegistrationRequest(_Body):
    challenge_token: str = Field(min_length=1, max_length=TOKEN_MAX)
    credential: Credential
    name: str | None = Field(default=None, max_length=64)


class AuthenticationOptionsRequest(_Body):
    mfa_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=TOKEN_MAX,
        description="A pending sign-in: options for its user's passkeys (its second step).",
    )


class AuthenticationRequest(_Body):
    """Exactly one of ``challenge_token`` (passwordless) and ``mfa_token`` (second step)."""

    challenge_token: str | None = Field(default=None, min_length=1, max_length=TOKEN_MAX)
    mfa_token: str | None = Field(default=None, min_length=1, max_length=TOKEN_MAX)
    credential: Credential

    @model_validator(mode="after")
    def _one_ceremony(self) -> "AuthenticationRequest":
        if (self.challenge_token is None) == (self.mfa_token is None):
            raise ValueError("send exactly one of challenge_token, mfa_token")
        return self


class StepUpRequest(_Body):
    challenge_token: str = Field(min_length=1, max_length=TOKEN_MAX)
    credential: Credential


class RenameRequest(_Body):
    name: str = Field(min_length=1, max_length=64)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


def build_passkeys_router(auth: "AuthCore") -> APIRouter:
    router = APIRouter(tags=["passkeys"])
    passkeys = auth.passkeys
    if passkeys is None:
        return router
    deps = web_of(auth).dependencies
    CurrentPrincipal = Annotated[Principal, Depends(deps.principal)]
    Client = Annotated[ClientInfo, Depends(deps.client)]

    @router.post("/passkeys/registration/options", responses=_responses(403, 409))
    async def registration_options(principal: CurrentPrincipal, response: Response) -> CeremonyOut:
        """Start adding a passkey: options for ``navigator.credentials.create()`` (the
        user's passkeys excluded). 403 ``reauthentication_required`` without a fresh proof;
        409 ``factor_exists`` at 25 passkeys."""
        response.headers["Cache-Control"] = "no-store"
        return CeremonyOut.of(await passkeys.registration_options(principal))

    @router.post(
        "/passkeys/registration",
        status_code=status.HTTP_201_CREATED,
        responses=_responses(403, 409, 422),
    )
    async def register(
        body: RegistrationRequest, principal: CurrentPrincipal, client: Client, response: Response
    ) -> RegisteredOut:
        """The browser's answer → the passkey is kept (named ``name``, default "Passkey").
        The session becomes a second-factor session and every other session of the user
        ends; ``recovery_codes`` are shown once. 401 ``invalid_passkey`` (any response that
        does not verify, or a ceremony used, expired or of another session: it is spent);
        403 ``reauthentication_required``; 409 ``factor_exists`` (registered already)."""
        response.headers["Cache-Control"] = "no-store"
        done = await passkeys.register(
            principal, body.challenge_token, body.credential, name=body.name, client=client
        )
        return RegisteredOut(
            passkey=PasskeyOut.of(done.passkey), recovery_codes=done.recovery_codes
        )

    @router.get("/passkeys")
    async def list_passkeys(principal: CurrentPrincipal) -> list[PasskeyOut]:
        """The user's passkeys, oldest first: names and dates, never key material."""
        return [PasskeyOut.of(passkey) for passkey in await passkeys.for_user(principal.user_id)]

    @router.patch("/passkeys/{passkey_id}", responses=_responses(404, 422))
    async def rename_passkey(
        passkey_id: PasskeyId, body: RenameRequest, principal: CurrentPrincipal
    ) -> PasskeyOut:
        """A new name (1 to 64 characters). 404 ``factor_not_found`` (also another user's)."""
        return PasskeyOut.of(await passkeys.rename(principal, passkey_id, body.name))

    @router.delete(
        "/passkeys/{passkey_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=_responses(403, 404),
    )
    async def remove_passkey(
        passkey_id: PasskeyId, principal: CurrentPrincipal, client: Client
    ) -> None:
        """Remove a passkey: every other session of the user ends; the last factor takes the
        recovery codes with it. 403 ``reauthentication_required``; 404 ``factor_not_found``."""
        await passkeys.remove(principal, passkey_id, client)

    @router.post("/passkeys/authentication/options", responses=_responses(404, 422))
    @public
    async def authentication_options(
        client: Client, response: Response, body: AuthenticationOptionsRequest | None = None
    ) -> CeremonyOut:
        """Without ``mfa_token``: a passwordless sign-in (any passkey of this site; it must
        verify the user). With one: the second step of that pending sign-in (its user's
        passkeys; ``challenge_token`` is null). 401 ``invalid_mfa_token`` /
        ``account_disabled``; 404 ``factor_not_found`` (the account has no passkey); 429
        ``rate_limited``."""
        response.headers["Cache-Control"] = "no-store"
        if body is not None and body.mfa_token is not None:
            return CeremonyOut.of(await passkeys.second_factor_options(body.mfa_token))
        return CeremonyOut.of(await passkeys.sign_in_options(client))

    @router.post("/passkeys/authentication", responses=_responses(403, 422))
    @public
    async def authenticate(
        body: AuthenticationRequest, client: Client, response: Response
    ) -> TokenPairOut:
        """The browser's answer → a token pair. ``challenge_token``: a passwordless sign-in
        (``amr`` ``["hwk", "user", "mfa"]``, ``swk`` for a synced passkey); ``mfa_token``:
        the second step (``["pwd", "hwk", "mfa"]``; wrong answers count against the pending
        sign-in like wrong codes). 401 ``invalid_passkey``, ``passkey_counter_regressed`` (a
        cloned passkey: audited), ``invalid_mfa_token``, ``account_disabled``; 403
        ``email_not_verified``; 429 ``rate_limited``."""
        response.headers["Cache-Control"] = "no-store"
        if body.mfa_token is not None:
            pair = await passkeys.complete_sign_in(body.mfa_token, body.credential, client)
        else:  # the validator: exactly one of the two
            pair = await passkeys.sign_in(body.challenge_token or "", body.credential, client)
        return TokenPairOut.of(pair)

    @router.post("/passkeys/step-up/options", responses=_responses(404))
    async def step_up_options(principal: CurrentPrincipal, response: Response) -> CeremonyOut:
        """Prove a passkey again on this session (for actions that need a fresh second
        factor). 404 ``factor_not_found`` without a passkey."""
        response.headers["Cache-Control"] = "no-store"
        return CeremonyOut.of(await passkeys.step_up_options(principal))

    @router.post(
        "/passkeys/step-up", status_code=status.HTTP_204_NO_CONTENT, responses=_responses(422)
    )
    async def step_up(body: StepUpRequest, principal: CurrentPrincipal, client: Client) -> None:
        """204: the session counts as freshly authenticated (``fresh_auth_window``) and as
        MFA. 401 ``invalid_passkey`` (the ceremony is spent), ``passkey_counter_regressed``;
        429 ``rate_limited``."""
        await passkeys.step_up(principal, body.challenge_token, body.credential, client)

    return router
