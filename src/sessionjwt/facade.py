"""``SessionJWT``: the one object an application holds. It composes the flows and owns the
background work (coalesced last-seen writes); read it top to bottom as the data flow:
register → login (authenticate, issue) → check → refresh → revoke.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sessionjwt.accounts.authenticator import Authenticator
from sessionjwt.accounts.backoff import BackoffPolicy, BackoffStore, MemoryBackoff
from sessionjwt.accounts.mailer import Mailer, build_mailer
from sessionjwt.accounts.password_reset import ResetTokens, new_token
from sessionjwt.accounts.passwords import PasswordHashing, PasswordPolicy
from sessionjwt.accounts.throttle import LoginThrottle
from sessionjwt.accounts.users import UserRecord, UserStore, normalise_email
from sessionjwt.audit.query import AuditFilter, AuditPage
from sessionjwt.audit.trail import AuditEvent, AuditEventType, AuditLog
from sessionjwt.check.request import RequestChecker
from sessionjwt.client import ClientInfo
from sessionjwt.clock import Clock, SystemClock
from sessionjwt.db.engine import Database, is_sqlite, sqlite_path
from sessionjwt.db.migrate import current_revision, head_revision, upgrade
from sessionjwt.errors import (
    ConfigurationError,
    InvalidClient,
    InvalidCredentials,
    InvalidEmail,
    InvalidResetToken,
    ReauthenticationRequired,
    SessionRevoked,
    StoreUnavailable,
)
from sessionjwt.keys.master import MasterKeys, load_master_keys
from sessionjwt.keys.ring import KeyRing
from sessionjwt.keys.rotation import KeyRingKeeper
from sessionjwt.keys.sealed import SealedSecrets
from sessionjwt.keys.store import KeyInfo, KeyStore, Rotation
from sessionjwt.keys.subkeys import derive_subkey
from sessionjwt.oauth.clients import ClientRecord, ClientRegistry, NewClient
from sessionjwt.oauth.inspector import TokenInspector
from sessionjwt.ops.readiness import Readiness, ReadinessProbe
from sessionjwt.principal import Principal
from sessionjwt.sessions.issue import SessionIssuer, SessionLifetimes, TokenPair
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.liveness.epoch import LocalEpoch, SharedEpoch
from sessionjwt.sessions.liveness.feed import Invalidation, InvalidationFeed
from sessionjwt.sessions.model import SessionRecord
from sessionjwt.sessions.refresh import Refresher
from sessionjwt.sessions.revoke import Revoker, RevokeReason
from sessionjwt.sessions.sql import SqlSessionStore
from sessionjwt.settings import Settings
from sessionjwt.support.background import cancel_all
from sessionjwt.support.ratelimit import Throttle
from sessionjwt.tokens.access import AccessTokenCodec, AccessTokenPolicy
from sessionjwt.tokens.refresh_token import SuccessorChain

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from sessionjwt.web.cookies import CookieTransport
    from sessionjwt.web.routes import Dependency

logger = logging.getLogger("sessionjwt")


def build_feed(settings: Settings, cache: LivenessCache) -> InvalidationFeed:
    """Pick how revokes reach other processes; refuse set-ups that would silently weaken it."""
    url = settings.resolved_database_url
    mode = settings.invalidation
    if mode == "auto":
        if settings.redis_url:
            mode = "redis"
        elif is_sqlite(url):
            mode = "host"
        else:
            raise ConfigurationError(
                "a shared database without Redis cannot tell other hosts about a revoke: set "
                "SESSIONJWT_REDIS_URL, or SESSIONJWT_INVALIDATION=host to confirm that every "
                "instance runs on this one host"
            )
    if mode == "redis" and settings.redis_url:
        from sessionjwt.sessions.liveness.redis_feed import RedisFeed

        return RedisFeed(
            settings.redis_url,
            cache,
            channel=f"{settings.redis_namespace}:invalidations",
            heartbeat=settings.feed_heartbeat.total_seconds(),
            stale_after=settings.feed_stale_after.total_seconds(),
        )
    if is_sqlite(url) and sqlite_path(url) is None:
        return LocalEpoch()
    return SharedEpoch(settings.epoch_file)


def _account_key(email: str) -> str:
    """Failures are counted per account, under the same normalisation the account is found by,
    so a fullwidth or upper-case spelling of an address cannot buy a fresh count."""
    try:
        return normalise_email(email)
    except InvalidEmail:
        return unicodedata.normalize("NFKC", email).strip().casefold()[:320]


class SessionJWT:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        database: Database | None = None,
        throttle_storage: str | None = None,
    ) -> None:
        self.settings = settings = settings or Settings()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self.clock = clock = clock or SystemClock()
        url = settings.resolved_database_url
        self.database = database or Database.from_url(url)
        self.users = UserStore(self.database)
        self.sessions = SqlSessionStore(self.database)
        self.audit = AuditLog(self.database)
        self.clients = ClientRegistry(self.database)
        self.reset_tokens = ResetTokens(self.database)
        self.mailer: Mailer | None = build_mailer(settings)
        self._mail_tasks: set[asyncio.Task[None]] = set()
        self.cache = LivenessCache()
        self.feed = build_feed(settings, self.cache)
        self.password_policy = PasswordPolicy(
            settings.password_min_length, settings.password_max_length
        )
        self.hashing = PasswordHashing(
            settings.argon2_time_cost,
            settings.argon2_memory_cost_kib,
            settings.argon2_parallelism,
            threads=settings.password_hashing_threads,
        )
        backoff_policy = BackoffPolicy(
            base=settings.login_backoff_base.total_seconds(),
            cap=settings.login_backoff_cap.total_seconds(),
            forget_after=settings.login_backoff_forget.total_seconds(),
            free_failures=settings.login_backoff_free_failures,
        )
        backoff: BackoffStore
        if throttle_storage is not None:
            self.throttle = Throttle(throttle_storage)
            backoff = MemoryBackoff(backoff_policy)
        elif settings.redis_url:  # counters shared by every instance, never per-process
            from redis.asyncio import ConnectionPool, Redis

            from sessionjwt.accounts.backoff_redis import RedisBackoff

            pool = ConnectionPool.from_url(
                settings.redis_url,
                socket_timeout=settings.redis_timeout.total_seconds(),
                socket_connect_timeout=settings.redis_timeout.total_seconds(),
            )
            self.throttle = Throttle(
                f"async+{settings.redis_url}",
                key_prefix=f"{settings.redis_namespace}:limits",
                implementation="redispy",
                wrap_exceptions=True,
                connection_pool=pool,
            )
            backoff = RedisBackoff(
                Redis(connection_pool=pool),
                backoff_policy,
                prefix=f"{settings.redis_namespace}:backoff",
            )
            self._closers.append(pool.disconnect)
        else:
            self.throttle = Throttle("async+memory://")
            backoff = MemoryBackoff(backoff_policy)
        self.login_throttle = LoginThrottle(
            throttle=self.throttle,
            backoff=backoff,
            clock=clock,
            ip_limit=settings.login_rate_limit_ip,
            account_ceiling=settings.login_failures_per_account,
        )
        self.keys: KeyRingKeeper | None = None
        self._chain: SuccessorChain | None = None
        self.master_keys: MasterKeys | None = None
        self.codec = AccessTokenCodec(
            AccessTokenPolicy(
                issuer=settings.issuer,
                audience=settings.audience,
                client_id=settings.client_id,
                ttl_seconds=int(settings.access_token_ttl.total_seconds()),
                leeway_seconds=settings.leeway.total_seconds(),
                max_token_bytes=settings.max_token_bytes,
            ),
            ring=self.key_ring,
        )
        self.checker = RequestChecker(
            codec=self.codec,
            store=self.sessions,
            cache=self.cache,
            feed=self.feed,
            clock=clock,
            ensure_ready=self.start,
            reload_keys=self._reload_keys,
            verified_cache_size=settings.verified_token_cache_size,
            last_seen_resolution=settings.last_seen_resolution.total_seconds(),
        )
        self.authenticator = Authenticator(self.users, self.hashing, self.audit, clock)
        self.issuer = SessionIssuer(
            self.codec,
            self.sessions,
            SessionLifetimes(
                absolute=settings.session_lifetime.total_seconds(),
                idle=settings.session_idle_timeout.total_seconds(),
            ),
        )
        self.revoker = Revoker(self.sessions, self.cache, self.feed, clock)
        self._readiness = ReadinessProbe(self.database, self.feed, settings.redis_url)
        self._closers.append(self._readiness.close)
        self._started = False
        self._start_lock = asyncio.Lock()
        self._background: list[asyncio.Task[None]] = []
        self._dependencies: Dependency | None = None
        self._cookies: CookieTransport | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, migrate: bool | None = None) -> None:
        """Load keys and start background work; idempotent, and called lazily if you forget.

        ``migrate`` defaults to True on SQLite (zero set-up) and False elsewhere, where a
        schema behind the code is refused with a message naming ``sessionjwt migrate``.
        """
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            url = self.settings.resolved_database_url
            if migrate if migrate is not None else is_sqlite(url):
                if sqlite_path(url) is None:
                    await self._create_in_memory_schema()
                else:
                    await upgrade(url)
            await self._require_current_schema()
            # A secret manager is a network call: keep the event loop free meanwhile.
            self.master_keys = await asyncio.to_thread(load_master_keys, self.settings)
            keystore = KeyStore(self.database, self.master_keys)
            self.keys = KeyRingKeeper(
                keystore,
                self.settings,
                self.clock,
                self.revoker,
                on_reload=self.checker.forget_verified_tokens,
            )
            ring = await self.keys.load()
            self._chain = SuccessorChain(
                await self._refresh_chain_key(keystore, ring, self.master_keys)
            )
            await self.feed.start()
            self._background = [
                asyncio.create_task(self.keys.tend_forever(), name="sessionjwt-keys"),
                asyncio.create_task(self._flush_last_seen_forever(), name="sessionjwt-last-seen"),
                asyncio.create_task(self._prune_forever(), name="sessionjwt-prune"),
            ]
            self._started = True

    async def _refresh_chain_key(
        self, keystore: KeyStore, ring: KeyRing, master_keys: MasterKeys
    ) -> bytes:
        """The refresh-token chain key, stored wrapped so a master-key rotation keeps it.

        Before it was stored it was derived from the (single) master key; the first start
        stores that same value, derived from the master key that opened the active signing
        key, so refresh tokens issued before the upgrade keep their chain.
        """
        opened_by = keystore.wrapped_by.get(ring.active.kid, master_keys.current_id)
        seed = master_keys.by_id(opened_by) or master_keys.current
        return await SealedSecrets(self.database, master_keys).get_or_create(
            "refresh-successor", lambda: derive_subkey(seed, "refresh-successor"), self.clock.now()
        )

    async def close(self) -> None:
        await cancel_all(self._background)
        if self._mail_tasks:  # let reset mails already under way finish, briefly
            await asyncio.wait(list(self._mail_tasks), timeout=5)
        await cancel_all(list(self._mail_tasks))
        self._background = []
        with contextlib.suppress(StoreUnavailable):
            await self.flush_last_seen()
        await self.database.dispose()
        await self.feed.close()
        for closer in self._closers:
            await closer()
        self._started = False

    async def __aenter__(self) -> SessionJWT:
        try:
            await self.start()
        except BaseException:
            await self.close()  # release connections opened before the failure
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Pass as ``FastAPI(lifespan=auth.lifespan)``."""
        await self.__aenter__()
        try:
            yield
        finally:
            await self.close()

    def key_ring(self) -> KeyRing:
        ring = self.keys.ring if self.keys is not None else None
        if ring is None:
            raise ConfigurationError("SessionJWT.start() has not run: no keys are loaded")
        return ring

    async def _reload_keys(self, force: bool) -> bool:
        return self.keys is not None and await self.keys.reload(force)

    # -- signing keys ----------------------------------------------------------------------

    async def list_keys(self) -> list[KeyInfo]:
        return await (await self._keeper()).list_keys()

    async def rotate_keys(
        self, *, revoke_all: bool = False, force: bool = False, actor: str | None = None
    ) -> Rotation:
        """Rotate the signing key; ``revoke_all`` also ends every session (breach)."""
        keeper = await self._keeper()
        return await keeper.rotate(revoke_all=revoke_all, force=force, actor=actor)

    async def retire_key(self, kid: str, *, actor: str | None = None) -> None:
        """Refuse every token ``kid`` signed, on every instance, from now on."""
        await (await self._keeper()).retire(kid, actor=actor)

    async def _keeper(self) -> KeyRingKeeper:
        await self.start()
        if self.keys is None:
            raise ConfigurationError("SessionJWT.start() has not run: no keys are loaded")
        return self.keys

    # -- accounts --------------------------------------------------------------------------

    async def register(
        self,
        email: str,
        password: str,
        *,
        roles: Sequence[str] = (),
        client: ClientInfo | None = None,
        actor: str | None = None,
    ) -> UserRecord:
        await self.start()
        client = client or ClientInfo()
        if client.ip:
            await self.throttle.hit(self.settings.register_rate_limit_ip, "register-ip", client.ip)
        normalized = normalise_email(email)
        self.password_policy.check(password, email=normalized)
        password_hash = await self.hashing.hash(password)
        now = self.clock.now()
        user = await self.users.create(email, password_hash, roles, now)
        await self.audit.record(
            AuditEvent(
                AuditEventType.REGISTER,
                at=now,
                user_id=user.id,
                actor=actor or user.id,
                ip=client.ip,
                user_agent=client.user_agent,
            )
        )
        return user

    # -- passwords: change (signed in), reset by email (signed out) -------------------------

    async def change_password(
        self,
        principal: Principal,
        current_password: str,
        new_password: str,
        client: ClientInfo | None = None,
    ) -> None:
        """Check the current password (throttled like a login), set the new one, and sign out
        every other session of the user; the caller's stays (ASVS 5 §6.2.3, §7.4.3)."""
        await self.start()
        client = client or ClientInfo()
        user = await self._confirm_password(
            principal, current_password, client, "password-change", InvalidCredentials()
        )
        self.password_policy.check(new_password, email=user.email_normalized)
        password_hash = await self.hashing.hash(new_password)
        now = self.clock.now()
        await self.users.set_password_hash(user.id, password_hash)
        await self.audit.record(
            AuditEvent(
                AuditEventType.PASSWORD_CHANGED,
                at=now,
                user_id=user.id,
                session_id=principal.session_id,
                actor=user.id,
                ip=client.ip,
                user_agent=client.user_agent,
            )
        )
        await self.revoke_user_sessions(
            user.id, keep_session_id=principal.session_id, actor=user.id, client=client
        )

    # -- fresh authentication for sensitive actions (ASVS 5 §7.5.1) -------------------------

    async def reauthenticate(
        self, principal: Principal, password: str, client: ClientInfo | None = None
    ) -> None:
        """Check the password again (throttled like a login) and mark the session freshly
        authenticated, so :meth:`require_fresh_auth` lets sensitive actions through."""
        await self.start()
        client = client or ClientInfo()
        user = await self._confirm_password(
            principal,
            password,
            client,
            "reauthenticate",
            InvalidCredentials("The password is incorrect."),
        )
        now = self.clock.now()
        event = AuditEvent(
            AuditEventType.REAUTHENTICATED,
            at=now,
            user_id=user.id,
            session_id=principal.session_id,
            actor=user.id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        if not await self.sessions.reauthenticated(principal.session_id, now, [event]):
            raise SessionRevoked()

    async def _confirm_password(
        self,
        principal: Principal,
        password: str,
        client: ClientInfo,
        purpose: str,
        refusal: InvalidCredentials,
    ) -> UserRecord:
        """A signed-in user's password, checked behind the login defences on counters of its
        own ``purpose``: a wrong guess here slows further guesses here, without making the
        account's own sign-ins wait."""
        account = f"{purpose}:" + _account_key(principal.email)
        await self.login_throttle.admit(account, client.ip)
        user = await self.users.get(principal.user_id)
        matches, _ = await self.hashing.verify(user.password_hash if user else None, password)
        if user is None or not matches:
            await self.login_throttle.failed(account)
            raise refusal
        await self.login_throttle.succeeded(account, client.ip)
        return user

    async def require_fresh_auth(self, principal: Principal) -> None:
        """403 ``reauthentication_required`` unless the caller's session proved the password
        within ``fresh_auth_window``. Read from the store, not a cache: this decides access."""
        await self.start()
        loaded = await self.sessions.load(principal.session_id)
        if loaded is None:
            raise SessionRevoked()
        session, _ = loaded
        window = self.settings.fresh_auth_window.total_seconds()
        if self.clock.now() - session.authenticated_at > window:
            raise ReauthenticationRequired()

    async def request_password_reset(self, email: str, client: ClientInfo | None = None) -> None:
        """Mail a single-use reset link if ``email`` has an account; the caller learns nothing.

        Known and unknown addresses take the same path up to the database write, and the mail
        goes out in the background, so neither the answer nor its timing tells them apart."""
        await self.start()
        client = client or ClientInfo()
        if client.ip:
            limit = self.settings.password_reset_rate_limit_ip
            await self.throttle.hit(limit, "reset-ip", client.ip)
        await self.throttle.hit(
            self.settings.password_reset_rate_limit_email, "reset-email", _account_key(email)
        )
        token, token_hash = new_token()
        user = await self.users.find_by_email(email)
        if user is None or user.disabled:
            return
        now = self.clock.now()
        event = AuditEvent(
            AuditEventType.PASSWORD_RESET_REQUESTED,
            at=now,
            user_id=user.id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        ttl = self.settings.password_reset_ttl.total_seconds()
        await self.reset_tokens.store(user.id, token_hash, now, ttl, [event])
        url = self.settings.resolved_password_reset_url
        if self.mailer is None or url is None:
            logger.warning(
                "password reset requested but no mail can be sent: set SESSIONJWT_SMTP_HOST "
                "and SESSIONJWT_PASSWORD_RESET_URL"
            )
            return
        minutes = max(1, round(ttl / 60))
        body = (
            "Someone asked to reset the password of this account.\n\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"{url.replace('{token}', token)}\n\n"
            "It works once. If you did not ask for this, ignore this message: your password "
            "stays as it is.\n"
        )
        task = asyncio.create_task(self._send_reset_mail(self.mailer, user.email, body))
        self._mail_tasks.add(task)
        task.add_done_callback(self._mail_tasks.discard)

    async def _send_reset_mail(self, mailer: Mailer, to: str, body: str) -> None:
        try:
            await mailer.send(to, "Reset your password", body)
        except Exception as error:  # an SMTP failure must not kill the loop
            # The exception's text could echo the message; its type is enough to act on.
            logger.error("password-reset mail could not be sent: %s", type(error).__name__)

    async def confirm_password_reset(
        self, token: str, new_password: str, client: ClientInfo | None = None
    ) -> None:
        """Use a reset token once: set the new password and end every session of the user."""
        await self.start()
        client = client or ClientInfo()
        if client.ip:
            limit = self.settings.password_reset_rate_limit_ip
            await self.throttle.hit(limit, "reset-confirm-ip", client.ip)
        now = self.clock.now()
        user_id = await self.reset_tokens.owner(token, now)
        user = await self.users.get(user_id)
        if user is None:
            raise InvalidResetToken()
        self.password_policy.check(new_password, email=user.email_normalized)
        password_hash = await self.hashing.hash(new_password)
        event = AuditEvent(
            AuditEventType.PASSWORD_RESET,
            at=now,
            user_id=user_id,
            actor=user_id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        # One transaction uses the token, sets the password and moves the watermark; it is
        # audited as the reset and as sign-out-everywhere, as before.
        signed_out = replace(
            event, event=AuditEventType.SIGN_OUT_EVERYWHERE, detail={"kept_session": False}
        )
        _, generation = await self.reset_tokens.consume(
            token, password_hash, now, [event, signed_out]
        )
        await self.revoker.signed_out(user_id, generation)

    # -- login → session → tokens ----------------------------------------------------------

    async def authenticate(
        self, email: str, password: str, client: ClientInfo | None = None
    ) -> UserRecord:
        """Check credentials, behind :class:`LoginThrottle`; the user, 401, 429 or 503."""
        await self.start()
        client = client or ClientInfo()
        account = _account_key(email)
        await self.login_throttle.admit(account, client.ip)
        try:
            user = await self.authenticator.authenticate(email, password, client)
        except InvalidCredentials:
            await self.login_throttle.failed(account)
            raise
        await self.login_throttle.succeeded(account, client.ip)
        return user

    async def issue(self, user: UserRecord, client: ClientInfo | None = None) -> TokenPair:
        """Start a new session for an authenticated user and mint its token pair."""
        await self.start()
        return await self.issuer.start(
            user_id=user.id, roles=user.roles, client=client or ClientInfo(), now=self.clock.now()
        )

    async def login(self, email: str, password: str, client: ClientInfo | None = None) -> TokenPair:
        user = await self.authenticate(email, password, client)
        return await self.issue(user, client)

    # -- the request check -----------------------------------------------------------------

    async def check(self, token: str) -> Principal:
        """Token → principal, or a 401/503 :class:`~sessionjwt.errors.SessionJWTError`."""
        return await self.checker.check(token)

    # -- refresh ---------------------------------------------------------------------------

    async def refresh(self, refresh_token: str, client: ClientInfo | None = None) -> TokenPair:
        await self.start()
        client = client or ClientInfo()
        if client.ip:
            await self.throttle.hit(self.settings.refresh_rate_limit_ip, "refresh-ip", client.ip)
        if self._chain is None:
            raise ConfigurationError("SessionJWT.start() has not run: no refresh key")
        refresher = Refresher(
            store=self.sessions,
            issuer=self.issuer,
            chain=self._chain,
            revoker=self.revoker,
            cache=self.cache,
            clock=self.clock,
            grace_seconds=self.settings.refresh_grace.total_seconds(),
        )
        return await refresher.refresh(refresh_token, client)

    # -- revoke ----------------------------------------------------------------------------

    async def logout(self, principal: Principal, client: ClientInfo | None = None) -> None:
        await self.revoke_session(
            principal.session_id,
            user_id=principal.user_id,
            reason=RevokeReason.LOGOUT,
            actor=principal.user_id,
            client=client,
        )

    async def revoke_session(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        reason: RevokeReason = RevokeReason.ADMIN_REVOKED,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """Revoke one session (only ``user_id``'s, if given: else 404). Seen by the next check."""
        await self.start()
        return await self.revoker.revoke_session(
            session_id, reason=reason, user_id=user_id, actor=actor, client=client
        )

    async def revoke_user_sessions(
        self,
        user_id: str,
        *,
        keep_session_id: str | None = None,
        actor: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Sign out everywhere (but ``keep_session_id``): one write, whatever the count."""
        await self.start()
        await self.revoker.revoke_user_sessions(
            user_id, keep_session_id=keep_session_id, actor=actor, client=client
        )

    async def set_user_disabled(
        self, user_id: str, disabled: bool = True, *, actor: str | None = None
    ) -> None:
        await self.start()
        await self.revoker.set_user_disabled(user_id, disabled, actor=actor)

    async def set_user_roles(self, user_id: str, roles: Sequence[str]) -> None:
        """Change roles; every instance re-reads the user before its next check."""
        await self.start()
        await self.users.set_roles(user_id, roles)
        self.cache.forget_user(user_id)
        await self.feed.announce(Invalidation("user", user_id))

    async def list_sessions(self, user_id: str) -> list[SessionRecord]:
        await self.start()
        return await self.sessions.list_live(user_id, self.clock.now())

    # -- resource-server clients, RFC 7662 introspection, RFC 7009 revocation --------------

    async def create_client(self, name: str, *, actor: str | None = None) -> NewClient:
        """Register a resource server; the secret in the result is never retrievable again."""
        await self.start()
        return await self.clients.create(name, self.clock.now(), actor=actor)

    async def list_clients(self, *, include_deleted: bool = False) -> list[ClientRecord]:
        await self.start()
        return await self.clients.list(include_deleted=include_deleted)

    async def delete_client(self, client_id: str, *, actor: str | None = None) -> None:
        """Refuse the client's credentials from its next call on (404 if no such client)."""
        await self.start()
        await self.clients.delete(client_id, self.clock.now(), actor=actor)

    async def introspect(
        self,
        token: str,
        *,
        client_id: str,
        client_secret: str,
        client: ClientInfo | None = None,
    ) -> dict[str, Any]:
        """RFC 7662 for a registered client: a live token's claims, or ``{"active": False}``.

        401 ``invalid_client`` for bad credentials, 503 when the store cannot answer."""
        await self.start()
        client = client or ClientInfo()
        if client.ip:
            limit = self.settings.introspect_rate_limit_ip
            await self.throttle.hit(limit, "introspect-ip", client.ip)
        await self.clients.authenticate(client_id, client_secret)
        return await self._inspector().introspect(token)

    async def revoke_token(
        self,
        token: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        client: ClientInfo | None = None,
    ) -> bool:
        """RFC 7009: end the session behind a genuine access or refresh token.

        Public clients (the token holder's own app) send no secret, at most our public
        ``client_id``; credentials, when sent, must be right. True if the session was live."""
        await self.start()
        client = client or ClientInfo()
        if client.ip:
            await self.throttle.hit(self.settings.revoke_rate_limit_ip, "revoke-ip", client.ip)
        actor = None
        if client_secret is not None:
            record = await self.clients.authenticate(client_id or "", client_secret)
            actor = f"client:{record.client_id}"
        elif client_id is not None and client_id != self.settings.client_id:
            raise InvalidClient()
        return await self._inspector().revoke(token, actor=actor, client=client)

    def _inspector(self) -> TokenInspector:
        if self._chain is None:
            raise ConfigurationError("SessionJWT.start() has not run: no refresh key")
        return TokenInspector(
            codec=self.codec,
            check=self.check,
            store=self.sessions,
            cache=self.cache,
            chain=self._chain,
            revoker=self.revoker,
            clock=self.clock,
        )

    # -- operations: audit trail, readiness ------------------------------------------------

    async def audit_events(self, query: AuditFilter) -> AuditPage:
        """One page of the audit trail, newest first (build ``query`` with AuditFilter.parse)."""
        await self.start()
        user_id = query.user
        if user_id is not None and "@" in user_id:
            found = await self.users.find_by_email(user_id)
            if found is None:
                return AuditPage([], None)
            user_id = found.id
        events = await self.audit.query(
            user_id=user_id,
            event=query.event,
            since=query.since,
            until=query.until,
            limit=query.limit,
            before_id=query.before_id,
        )
        more = len(events) == query.limit
        return AuditPage(events, str(events[-1].id) if more else None)

    async def readiness(self) -> Readiness:
        """Whether the database, Redis (if configured) and the invalidation feed answer."""
        return await self._readiness.probe()

    # -- background work -------------------------------------------------------------------

    async def flush_last_seen(self) -> None:
        dirty = self.checker.take_dirty_last_seen()
        try:
            await self.sessions.touch(dirty)
        except StoreUnavailable:
            for session_id, seen in dirty.items():  # keep them for the next attempt
                current = self.checker.dirty_last_seen.get(session_id, 0.0)
                self.checker.dirty_last_seen[session_id] = max(current, seen)
            raise

    async def prune(self) -> tuple[int, int]:
        """Delete ended sessions and expired audit rows in bounded batches; (sessions, events).

        Runs in the background every ``prune_interval``; safe on several instances at once."""
        settings = self.settings
        now = self.clock.now()
        totals = [0, 0]
        jobs = (
            (0, self.sessions.prune_ended, now - settings.ended_session_retention.total_seconds()),
            (1, self.audit.prune, now - settings.audit_retention.total_seconds()),
        )
        for index, job, cutoff in jobs:
            while True:
                deleted = await job(cutoff, settings.prune_batch_size)
                totals[index] += deleted
                if deleted < settings.prune_batch_size:
                    break
                await asyncio.sleep(0)  # let requests in between batches
        return totals[0], totals[1]

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.prune_interval.total_seconds())
            try:
                sessions_deleted, events_deleted = await self.prune()
            except StoreUnavailable:
                logger.warning("pruning skipped: store unavailable")
                continue
            if sessions_deleted or events_deleted:
                logger.info(
                    "pruned %d ended sessions and %d audit events",
                    sessions_deleted,
                    events_deleted,
                )

    async def _flush_last_seen_forever(self) -> None:
        interval = max(1.0, self.settings.last_seen_resolution.total_seconds())
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush_last_seen()
            except StoreUnavailable:
                logger.warning("last-seen flush failed: store unavailable; will retry")

    # -- schema ----------------------------------------------------------------------------

    async def _create_in_memory_schema(self) -> None:
        from sessionjwt.db.tables import metadata

        async with self.database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def _require_current_schema(self) -> None:
        url = self.settings.resolved_database_url
        if is_sqlite(url) and sqlite_path(url) is None:
            return
        current = await current_revision(self.database.engine)
        if current != head_revision():
            raise ConfigurationError(
                f"database schema is at revision {current or 'none'}, the code needs "
                f"{head_revision()}: run `sessionjwt migrate` first"
            )

    # -- FastAPI faces (imported lazily: the core needs no web framework) ------------------

    def router(self, **options: Any) -> APIRouter:
        from sessionjwt.web.routes import build_router

        return build_router(self, **options)

    def admin_router(self) -> APIRouter:
        """Key-ring operations for the admin role; include it under ``/admin``."""
        from sessionjwt.web.admin import build_admin_router

        return build_admin_router(self)

    def well_known_router(self) -> APIRouter:
        """``/.well-known/jwks.json`` and RFC 8414 metadata; include it at the app's root."""
        from sessionjwt.web.well_known import build_well_known_router

        return build_well_known_router(self)

    def oauth_router(self) -> APIRouter:
        """``POST /oauth/introspect`` (RFC 7662) and ``/oauth/revoke`` (RFC 7009); at the root."""
        from sessionjwt.web.oauth import build_oauth_router

        return build_oauth_router(self)

    def ops_router(self) -> APIRouter:
        """Public ``/readyz`` and (if ``metrics_enabled``) ``/metrics``; at the app's root."""
        from sessionjwt.web.ops import build_ops_router

        return build_ops_router(self)

    def pages_router(self) -> APIRouter:
        """The browser pages (sign-in, devices, security, /manage); at the app's root, with
        :func:`sessionjwt.web.pages.mount_static` for their stylesheet and script."""
        from sessionjwt.web.pages import build_pages_router

        return build_pages_router(self)

    def protect(self, app: FastAPI, **options: Any) -> None:
        """Install the default-deny guard and sessionjwt's error responses on ``app``."""
        from sessionjwt.web.routes import protect

        protect(app, self, **options)

    @property
    def cookies(self) -> CookieTransport:
        """The browser transport: set, read and clear the token cookies (docs/browser.md)."""
        if self._cookies is None:
            from sessionjwt.web.cookies import CookieTransport

            self._cookies = CookieTransport(self.settings)
        return self._cookies

    @property
    def dependencies(self) -> Dependency:
        if self._dependencies is None:
            from sessionjwt.web.routes import Dependency

            self._dependencies = Dependency(self)
        return self._dependencies

    @property
    def principal(self) -> Any:
        """FastAPI dependency: the current :class:`Principal` (``Depends(auth.principal)``)."""
        return self.dependencies.principal

    def require_roles(self, *roles: str) -> Any:
        """FastAPI dependency: the principal, if it has every one of ``roles``; else 403."""
        return self.dependencies.require_roles(*roles)
