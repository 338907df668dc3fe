"""Sign-in with an identity provider, ending in the same session as a password sign-in.

The authorization code flow with PKCE (S256), ``state`` and ``nonce``: the flow is stored
server-side, found by its ``state``, bound to the browser that began it by a value in an
HttpOnly cookie, and used once. The code is exchanged at the provider's token endpoint, the
ID token verified (:mod:`.id_token`), and the person found by (provider, subject) — never by
e-mail alone: an unknown identity whose address matches an account links to it only when the
provider verified the address *and* is configured ``trust_email``.

Authlib builds the authorization request (its RFC 6749/7636 helpers); the HTTP is httpx.
Authlib 1.9's own httpx client warns that it wants the httpx2 package, and this suite turns
warnings into errors, so we keep to the library's protocol helpers and our httpx.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from sessionjwt.accounts.factors.service import PendingSignIn
from sessionjwt.accounts.providers.config import ProviderConfig
from sessionjwt.accounts.providers.id_token import (
    LEEWAY_S,
    verify_id_token,
    verify_logout_token,
)
from sessionjwt.accounts.providers.metadata import ProviderMetadata
from sessionjwt.accounts.providers.profile import Profile, profile_from_api, profile_from_claims
from sessionjwt.accounts.providers.store import Flow, Identity, ProviderStore
from sessionjwt.accounts.providers.tokens import ProviderTokens
from sessionjwt.accounts.users import UserRecord, UserStore
from sessionjwt.audit.trail import AuditEvent, AuditEventType, AuditLog
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock
from sessionjwt.errors import (
    AccountDisabled,
    AccountExists,
    IdentityNotFound,
    IdentityTaken,
    InvalidProviderState,
    LastSignInMethod,
    ProviderDenied,
    ProviderEmailUnverified,
    ProviderUnavailable,
    UnknownProvider,
)
from sessionjwt.sessions.issue import Federation, SessionIssuer, TokenPair
from sessionjwt.sessions.revoke import Revoker, RevokeReason
from sessionjwt.settings import Settings

FLOW_TTL_S = 600.0

# The second-factor step a sign-in goes through once the provider vouched for the person:
# None, or the pending sign-in the account's second factor must complete.
SecondFactorStep = Callable[
    [UserRecord, Sequence[str], ClientInfo, Federation], Awaitable[PendingSignIn | None]
]


@dataclass(frozen=True, slots=True)
class Authorization:
    url: str  # where to send the browser
    browser: str  # the flow cookie's value: binds the callback to this browser


@dataclass(frozen=True, slots=True)
class Completed:
    purpose: str  # "signin" or "link"
    return_to: str
    tokens: TokenPair | None  # a new session (sign-in)
    identity: Identity
    pending: PendingSignIn | None = None  # instead of tokens: the second factor is awaited


class ProviderSignIn:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        providers: Mapping[str, ProviderConfig],
        store: ProviderStore,
        users: UserStore,
        audit: AuditLog,
        issuer: SessionIssuer,
        revoker: Revoker,
        second_factor: SecondFactorStep,
        http: httpx.AsyncClient,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._providers = dict(providers)
        self._metadata = {name: ProviderMetadata(cfg, http) for name, cfg in providers.items()}
        self._store = store
        self._users = users
        self._audit = audit
        self._issuer = issuer
        self._revoker = revoker
        self._second_factor = second_factor
        self._http = http
        self._ready = ready

    def configured(self) -> list[ProviderConfig]:
        return list(self._providers.values())

    def redirect_uri(self, name: str) -> str:
        template = self._settings.provider_callback_url
        return template.format(issuer=self._settings.issuer.rstrip("/"), name=name)

    # -- the flow --------------------------------------------------------------------------

    async def authorize(
        self, name: str, return_to: str, *, user_id: str | None = None
    ) -> Authorization:
        """Begin a sign-in (or, with ``user_id``, linking to that signed-in account)."""
        await self._ready()
        config, metadata = self._provider(name)
        endpoints = await metadata.endpoints()
        state, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        flow = Flow(
            provider=name,
            purpose="link" if user_id else "signin",
            user_id=user_id,
            nonce=nonce,
            code_verifier=verifier,
            return_to=_same_origin_path(return_to),
        )
        await self._store.begin(state, browser, flow, self._clock.now(), FLOW_TTL_S)
        extra: dict[str, str] = {"nonce": nonce} if config.is_oidc else {}
        url = prepare_grant_uri(
            endpoints.authorization,
            config.client_id,
            "code",
            redirect_uri=self.redirect_uri(name),
            scope=" ".join(config.requested_scopes),
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            **extra,
        )
        return Authorization(url=url, browser=browser)

    async def callback(
        self,
        name: str,
        params: Mapping[str, str],
        browser: str | None,
        client: ClientInfo | None = None,
    ) -> Completed:
        """The provider's redirect back: a session (or a link), or a refusal with a code."""
        await self._ready()
        config, metadata = self._provider(name)
        state = params.get("state")
        if not state:
            raise InvalidProviderState()
        # The state is used up first, also when the provider reports an error.
        flow = await self._store.consume(state, browser, name, self._clock.now())
        if "error" in params:
            raise ProviderDenied()
        code = params.get("code")
        if not code:
            raise ProviderDenied("The identity provider sent no authorization code.")
        grant = await self._exchange(config, metadata, code, flow.code_verifier)
        profile = await self._profile(config, metadata, grant, nonce=flow.nonce)
        client = client or ClientInfo()
        if flow.purpose == "link" and flow.user_id is not None:
            identity = await self._link(flow.user_id, config, profile, client, how="signed_in")
            await self._remember_tokens(config, identity, grant)
            return Completed("link", flow.return_to, None, identity)
        result, identity = await self._sign_in(config, profile, client)
        await self._remember_tokens(config, identity, grant)
        if isinstance(result, PendingSignIn):
            return Completed("signin", flow.return_to, None, identity, pending=result)
        return Completed("signin", flow.return_to, result, identity)

    async def exchange_id_token(
        self, name: str, id_token: str, nonce: str, client: ClientInfo | None = None
    ) -> TokenPair | PendingSignIn:
        """A native or single-page app's own ID token (with the nonce it sent) → a session,
        or the pending sign-in the account's second factor completes."""
        await self._ready()
        config, metadata = self._provider(name)
        if not config.is_oidc:
            raise UnknownProvider("This provider issues no ID tokens.")
        claims = await verify_id_token(
            metadata, id_token, audiences={config.client_id, *config.audiences}, nonce=nonce
        )
        tokens, _ = await self._sign_in(config, profile_from_claims(claims), client or ClientInfo())
        return tokens

    async def backchannel_logout(self, name: str, logout_token: str) -> int:
        """OIDC Back-Channel Logout: end the sessions the token names; how many were live."""
        await self._ready()
        config, metadata = self._provider(name)
        claims = await verify_logout_token(metadata, logout_token, audiences={config.client_id})
        now = self._clock.now()
        # Remember the jti as long as the token itself would be accepted: its exp is on the
        # provider's (real) clock, our rows on ours, so keep it for the time it has left.
        keep_for = max(0.0, float(claims["exp"]) - time.time()) + LEEWAY_S
        await self._store.first_use_of_logout_token(name, str(claims["jti"]), now + keep_for, now)
        subject, sid = claims.get("sub"), claims.get("sid")
        identity_id = None
        if isinstance(subject, str):
            identity = await self._store.find(name, subject)
            if identity is None:
                return 0
            identity_id = identity.id
        live = await self._store.live_sessions(
            name, identity_id=identity_id, idp_sid=sid if isinstance(sid, str) else None
        )
        ended = 0
        for session_id, user_id in live:
            ended += await self._revoker.revoke_session(
                session_id,
                reason=RevokeReason.PROVIDER_LOGOUT,
                user_id=user_id,
                actor=f"provider:{name}",
            )
        return ended

    # -- linked identities -----------------------------------------------------------------

    async def tokens_of(self, user_id: str, provider: str) -> ProviderTokens | None:
        """The provider's own tokens from ``user_id``'s latest sign-in or link with it, for
        calling its API; None unless the provider is ``keep_tokens`` and some were kept.

        Raises :class:`~sessionjwt.errors.ConfigurationError` if the stored blob does not
        open (tampered with, moved from another identity, or its master key is gone)."""
        await self._ready()
        config, _ = self._provider(provider)
        if not config.keep_tokens:
            return None
        return await self._store.tokens_of(user_id, provider)

    async def identities(self, user_id: str) -> list[Identity]:
        await self._ready()
        return await self._store.of_user(user_id)

    async def unlink(
        self, user_id: str, identity_id: str, client: ClientInfo | None = None
    ) -> None:
        """Disconnect one identity; never the last way to sign in. Ends no session."""
        await self._ready()
        client = client or ClientInfo()
        mine = {identity.id: identity for identity in await self._store.of_user(user_id)}
        identity = mine.get(identity_id)
        if identity is None:
            raise IdentityNotFound()
        event = AuditEvent(
            AuditEventType.IDENTITY_UNLINKED,
            at=self._clock.now(),
            user_id=user_id,
            actor=user_id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={"provider": identity.provider, "identity_id": identity.id},
        )
        if not await self._store.unlink(user_id, identity_id, [event]):
            raise LastSignInMethod()

    # -- the steps -------------------------------------------------------------------------

    async def _remember_tokens(
        self, config: ProviderConfig, identity: Identity, grant: Mapping[str, Any]
    ) -> None:
        """Keep the token response for the identity if the provider is ``keep_tokens``; if it
        is not (any more), forget what an earlier configuration kept."""
        if config.keep_tokens:
            tokens = ProviderTokens.from_grant(dict(grant), self._clock.now())
            if tokens is not None:
                await self._store.keep_tokens(identity.id, tokens)
        elif identity.has_tokens:
            await self._store.keep_tokens(identity.id, None)

    def _provider(self, name: str) -> tuple[ProviderConfig, ProviderMetadata]:
        config = self._providers.get(name)
        if config is None:
            raise UnknownProvider()
        return config, self._metadata[name]

    async def _exchange(
        self, config: ProviderConfig, metadata: ProviderMetadata, code: str, verifier: str
    ) -> dict[str, Any]:
        endpoints = await metadata.endpoints()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri(config.name),
            "code_verifier": verifier,
        }
        secret = config.secret()
        auth: httpx.Auth | None = None
        basic = config.token_auth_method == "client_secret_basic"  # noqa: S105
        if secret is not None and basic:
            # RFC 6749 §2.3.1: both parts form-encoded before they go into Basic.
            auth = httpx.BasicAuth(quote(config.client_id, safe=""), quote(secret, safe=""))
        else:
            form["client_id"] = config.client_id
            if secret is not None:
                form["client_secret"] = secret
        try:
            response = await self._http.post(
                endpoints.token,
                data=form,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable() from error
        if response.status_code >= 500:
            raise ProviderUnavailable()
        try:
            grant = response.json()
        except ValueError as error:
            raise ProviderUnavailable() from error
        if response.status_code != 200 or not isinstance(grant, dict) or "error" in grant:
            raise ProviderDenied("The identity provider refused the sign-in code.")
        return grant

    async def _profile(
        self,
        config: ProviderConfig,
        metadata: ProviderMetadata,
        grant: dict[str, Any],
        *,
        nonce: str,
    ) -> Profile:
        if config.is_oidc:
            id_token = grant.get("id_token")
            if not isinstance(id_token, str):
                raise ProviderDenied("The identity provider sent no ID token.")
            claims = await verify_id_token(
                metadata, id_token, audiences={config.client_id}, nonce=nonce
            )
            return profile_from_claims(claims)
        access_token = grant.get("access_token")
        if not isinstance(access_token, str):
            raise ProviderDenied("The identity provider sent no access token.")
        return await profile_from_api(config, metadata, access_token)

    async def _sign_in(
        self, config: ProviderConfig, profile: Profile, client: ClientInfo
    ) -> tuple[TokenPair | PendingSignIn, Identity]:
        identity = await self._store.find(config.name, profile.subject)
        now = self._clock.now()
        if identity is None:
            user, how = await self._account_for(config, profile, now, client)
            identity = await self._link(user.id, config, profile, client, how=how)
        else:
            found = await self._users.get(identity.user_id)
            if found is None:
                raise IdentityNotFound()
            user = found
            await self._store.used(identity.id, now)
        if user.disabled:
            raise AccountDisabled()
        federation = Federation(idp=config.name, identity_id=identity.id, idp_sid=profile.sid)
        pending = await self._second_factor(user, ("fed",), client, federation)
        if pending is not None:
            return pending, identity
        tokens = await self._issuer.start(
            user_id=user.id, roles=user.roles, client=client, now=now, federation=federation
        )
        return tokens, identity

    async def _account_for(
        self, config: ProviderConfig, profile: Profile, now: float, client: ClientInfo
    ) -> tuple[UserRecord, str]:
        """The account an unknown identity signs in to, and how it was chosen: never one it
        may not take over. Only a provider-verified address may make or join an account."""
        if profile.email is None or not profile.email_verified:
            raise ProviderEmailUnverified()
        existing = await self._users.find_by_email(profile.email)
        if existing is not None:
            if config.trust_email:
                return existing, "verified_email"  # the provider vouches, and we trust it to
            raise AccountExists()
        user = await self._users.create(profile.email, None, (), now)
        await self._users.mark_email_verified(user.id, now)
        await self._audit.record(
            AuditEvent(
                AuditEventType.REGISTER,
                at=now,
                user_id=user.id,
                actor=user.id,
                ip=client.ip,
                user_agent=client.user_agent,
                detail={"provider": config.name},
            )
        )
        return user, "new_account"

    async def _link(
        self,
        user_id: str,
        config: ProviderConfig,
        profile: Profile,
        client: ClientInfo,
        *,
        how: str,
    ) -> Identity:
        existing = await self._store.find(config.name, profile.subject)
        if existing is not None:
            if existing.user_id != user_id:
                raise IdentityTaken()
            return existing
        now = self._clock.now()
        event = AuditEvent(
            AuditEventType.IDENTITY_LINKED,
            at=now,
            user_id=user_id,
            actor=user_id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={"provider": config.name, "how": how},
        )
        return await self._store.link(
            user_id, config.name, profile.subject, profile.email, now, [event]
        )


def _same_origin_path(candidate: str) -> str:
    """A path on this site, or ``/``: never ``//evil.example`` or ``https://evil.example``."""
    if (
        not candidate.startswith("/")
        or candidate.startswith(("//", "/\\"))
        or any(ch in candidate for ch in "\\\r\n\t")
        or len(candidate) > 512
    ):
        return "/"
    return candidate
