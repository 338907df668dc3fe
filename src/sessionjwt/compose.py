"""The composition root: every collaborator built from :class:`Settings`, and their lifecycle.

This is the one place that knows how the pieces fit — which feed tells other processes about
a revoke, where the rate-limit counters live, which keys sign — so each flow can take only
what it uses. :class:`~sessionjwt.core.AuthCore` (and through it ``SessionJWT``) holds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from typing import TYPE_CHECKING

from sessionjwt.accounts.authenticator import Authenticator
from sessionjwt.accounts.disabled_notice import DisabledSignInNotices
from sessionjwt.accounts.factors.challenges import MfaChallenges
from sessionjwt.accounts.factors.service import SecondFactors
from sessionjwt.accounts.factors.store import FactorStore
from sessionjwt.accounts.known_devices import KnownDevices
from sessionjwt.accounts.mailer import Outbox, build_mailer
from sessionjwt.accounts.password_reset import ResetTokens
from sessionjwt.accounts.passwords import PasswordHashing, PasswordPolicy
from sessionjwt.accounts.providers.config import parse_providers
from sessionjwt.accounts.resets import PasswordResets
from sessionjwt.accounts.service import Accounts
from sessionjwt.accounts.throttle import build_throttles
from sessionjwt.accounts.users import UserStore
from sessionjwt.accounts.verification import EmailTokens, EmailVerification
from sessionjwt.apikeys.service import ApiKeys
from sessionjwt.audit.trail import AuditLog
from sessionjwt.check.request import RequestChecker
from sessionjwt.clock import Clock
from sessionjwt.db.engine import Database, is_sqlite, sqlite_path
from sessionjwt.db.migrate import current_revision, head_revision, upgrade
from sessionjwt.errors import ConfigurationError, StoreUnavailable
from sessionjwt.keys.master import MasterKeys, load_master_keys
from sessionjwt.keys.ring import KeyRing
from sessionjwt.keys.rotation import KeyRingKeeper
from sessionjwt.keys.sealed import SealedSecrets
from sessionjwt.keys.store import KeyStore
from sessionjwt.keys.subkeys import derive_subkey
from sessionjwt.oauth.clients import ClientRegistry
from sessionjwt.oauth.service import TokenEndpoints
from sessionjwt.ops.maintenance import Maintenance
from sessionjwt.ops.readiness import ReadinessProbe
from sessionjwt.ops.trail import AuditReader
from sessionjwt.sessions.issue import SessionIssuer, SessionLifetimes
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.liveness.choice import build_feed
from sessionjwt.sessions.revoke import Revoker
from sessionjwt.sessions.service import Sessions
from sessionjwt.sessions.sql import SqlSessionStore
from sessionjwt.settings import Settings
from sessionjwt.support.background import Background, cancel_all
from sessionjwt.tokens.access import AccessTokenCodec, AccessTokenPolicy
from sessionjwt.tokens.refresh_token import SuccessorChain

if TYPE_CHECKING:
    from sessionjwt.accounts.factors.passkey_service import Passkeys
    from sessionjwt.accounts.providers.service import ProviderSignIn


class Components:
    """Every collaborator of one service, and the order they start and stop in."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        database: Database | None = None,
        throttle_storage: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.database = database or Database.from_url(settings.resolved_database_url)
        self.users = UserStore(self.database)
        self.session_store = SqlSessionStore(self.database)
        self.audit = AuditLog(self.database)
        self.clients = ClientRegistry(self.database)
        self.reset_tokens = ResetTokens(self.database)
        self.email_tokens = EmailTokens(self.database)
        self.mailer = build_mailer(settings)
        # Work done after the answer: every mail, and reset and resend requests whole.
        self.after_answer = Background()
        self.outbox = Outbox(self.mailer, self.after_answer)
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
        self.throttle, self.login_throttle, self._closers = build_throttles(
            settings, clock, throttle_storage
        )
        self.keys: KeyRingKeeper | None = None
        self.chain: SuccessorChain | None = None
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
            store=self.session_store,
            cache=self.cache,
            feed=self.feed,
            clock=clock,
            ensure_ready=self.start,
            reload_keys=self._reload_keys,
            verified_cache_size=settings.verified_token_cache_size,
            last_seen_resolution=settings.last_seen_resolution.total_seconds(),
        )
        self.authenticator = Authenticator(
            self.users,
            self.hashing,
            self.audit,
            clock,
            require_verified_email=settings.email_verification == "required",
            disabled_notices=DisabledSignInNotices(self.outbox, self.throttle),
        )
        self.known_devices = KnownDevices(
            keys=self._known_device_keys,
            clock=clock,
            throttle=self.throttle,
            ttl=settings.login_known_device_ttl.total_seconds(),
            max_failures=settings.login_known_device_failures,
        )
        self.issuer = SessionIssuer(
            self.codec,
            self.session_store,
            SessionLifetimes(
                absolute=settings.session_lifetime.total_seconds(),
                idle=settings.session_idle_timeout.total_seconds(),
            ),
        )
        self.revoker = Revoker(self.session_store, self.cache, self.feed, clock)
        self.maintenance = Maintenance(
            settings, clock, self.checker, self.session_store, self.audit
        )
        self.readiness = ReadinessProbe(self.database, self.feed, settings.redis_url)
        self._closers.append(self.readiness.close)
        self._build_services()
        self._started = False
        self._start_lock = asyncio.Lock()
        self._background: list[asyncio.Task[None]] = []

    def _build_services(self) -> None:
        """The flows an application calls, each with only the collaborators it uses."""
        self.accounts = Accounts(
            settings=self.settings,
            clock=self.clock,
            users=self.users,
            sessions=self.session_store,
            audit=self.audit,
            policy=self.password_policy,
            hashing=self.hashing,
            authenticator=self.authenticator,
            throttle=self.throttle,
            login_throttle=self.login_throttle,
            known_devices=self.known_devices,
            revoker=self.revoker,
            ready=self.start,
        )
        self.password_resets = PasswordResets(
            settings=self.settings,
            clock=self.clock,
            users=self.users,
            tokens=self.reset_tokens,
            policy=self.password_policy,
            hashing=self.hashing,
            throttle=self.throttle,
            revoker=self.revoker,
            outbox=self.outbox,
            background=self.after_answer,
            ready=self.start,
        )
        self.email_verification = EmailVerification(
            settings=self.settings,
            clock=self.clock,
            users=self.users,
            tokens=self.email_tokens,
            policy=self.password_policy,
            hashing=self.hashing,
            throttle=self.throttle,
            revoker=self.revoker,
            outbox=self.outbox,
            background=self.after_answer,
            confirm_password=self.accounts.confirm_password,
            ready=self.start,
        )
        self.sessions = Sessions(
            settings=self.settings,
            clock=self.clock,
            store=self.session_store,
            cache=self.cache,
            issuer=self.issuer,
            revoker=self.revoker,
            throttle=self.throttle,
            chain=self.successor_chain,
            ready=self.start,
        )
        self.oauth = TokenEndpoints(
            settings=self.settings,
            clock=self.clock,
            clients=self.clients,
            codec=self.codec,
            check=self.checker.check,
            store=self.session_store,
            cache=self.cache,
            revoker=self.revoker,
            throttle=self.throttle,
            chain=self.successor_chain,
            ready=self.start,
        )
        self.factors = SecondFactors(
            settings=self.settings,
            clock=self.clock,
            database=self.database,
            store=FactorStore(self.database, self.opened_master_keys),
            challenges=MfaChallenges(self.database),
            users=self.users,
            sessions=self.session_store,
            cache=self.cache,
            issuer=self.issuer,
            revoker=self.revoker,
            audit=self.audit,
            login_throttle=self.login_throttle,
            outbox=self.outbox,
            ready=self.start,
        )
        self.audit_reader = AuditReader(self.audit, self.users)
        self.api_keys = ApiKeys(
            settings=self.settings,
            clock=self.clock,
            store=self.session_store,
            revoker=self.revoker,
            audit=self.audit,
            ready=self.start,
        )
        self.checker.on_key_refused = self.api_keys.refused
        self.providers = self._build_providers()
        self.passkeys = self._build_passkeys()

    def _build_passkeys(self) -> Passkeys | None:
        """Passkeys (WebAuthn), if py_webauthn is installed (the mfa extra); else None and
        the passkey routes and buttons are left out."""
        if importlib.util.find_spec("webauthn") is None:
            return None
        from sessionjwt.accounts.factors.passkey_service import Passkeys
        from sessionjwt.accounts.factors.passkey_store import PasskeyStore

        return Passkeys(
            settings=self.settings,
            clock=self.clock,
            database=self.database,
            store=PasskeyStore(self.database),
            challenges=self.factors.challenges,
            factors=self.factors,
            users=self.users,
            issuer=self.issuer,
            audit=self.audit,
            throttle=self.throttle,
            login_throttle=self.login_throttle,
            outbox=self.outbox,
            ready=self.start,
        )

    def _build_providers(self) -> ProviderSignIn | None:
        """Sign-in with identity providers, if any are configured (the providers extra)."""
        configured = parse_providers(self.settings.providers)
        if not configured:
            return None
        import httpx

        from sessionjwt.accounts.providers.service import ProviderSignIn
        from sessionjwt.accounts.providers.store import ProviderStore

        http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        self._closers.append(http.aclose)
        return ProviderSignIn(
            settings=self.settings,
            clock=self.clock,
            providers=configured,
            store=ProviderStore(self.database, self.opened_master_keys),
            users=self.users,
            audit=self.audit,
            issuer=self.issuer,
            revoker=self.revoker,
            second_factor=self.factors.after_first_factor,
            http=http,
            ready=self.start,
        )

    # -- start: schema, master keys, signing keys, feed, background work ---------------------

    async def start(self, *, migrate: bool | None = None) -> None:
        """Idempotent, and called lazily by every flow if the application forgot to.

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
            self.chain = SuccessorChain(
                await self._refresh_chain_key(keystore, ring, self.master_keys)
            )
            await self.feed.start()
            self._background = [
                asyncio.create_task(self.keys.tend_forever(), name="sessionjwt-keys"),
                *self.maintenance.start(),
            ]
            self._started = True

    async def close(self) -> None:
        await cancel_all(self._background)
        self._background = []
        await self.after_answer.close()  # reset requests and mails under way
        with contextlib.suppress(StoreUnavailable):
            await self.maintenance.flush_last_seen()
        await self.database.dispose()
        await self.feed.close()
        for closer in self._closers:
            await closer()
        self._started = False

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

    # -- what exists only once started -------------------------------------------------------

    def key_ring(self) -> KeyRing:
        ring = self.keys.ring if self.keys is not None else None
        if ring is None:
            raise ConfigurationError("SessionJWT.start() has not run: no keys are loaded")
        return ring

    async def keeper(self) -> KeyRingKeeper:
        await self.start()
        if self.keys is None:
            raise ConfigurationError("SessionJWT.start() has not run: no keys are loaded")
        return self.keys

    def opened_master_keys(self) -> MasterKeys:
        if self.master_keys is None:
            raise ConfigurationError("SessionJWT.start() has not run: no master key is loaded")
        return self.master_keys

    def _known_device_keys(self) -> list[bytes]:
        """Known-device MAC keys: the current master key's first, then the previous ones'."""
        keys = self.opened_master_keys()
        return [derive_subkey(key, "known-device") for key in (keys.current, *keys.previous)]

    def successor_chain(self) -> SuccessorChain:
        if self.chain is None:
            raise ConfigurationError("SessionJWT.start() has not run: no refresh key")
        return self.chain

    async def _reload_keys(self, force: bool) -> bool:
        return self.keys is not None and await self.keys.reload(force)
