"""The request check, the hot path: token → principal, without I/O when warm, failing closed.

Warm cost is two dictionary look-ups and a shared-memory read:

1. the exact token string was fully verified before (signature, header policy, claims) →
   its parsed claims; only ``exp`` is re-judged. Equal strings are equal tokens, so nothing
   an attacker can change gets past this look-up;
2. the invalidation feed has nothing new and vouches for memory → the in-process liveness
   entry for ``sid`` is current (else the store answers, see :mod:`.liveness.feed`);
3. the entry says live → the principal. Last-seen is bumped in memory and flushed in batches.

An API key (``sjk_…``, :mod:`sessionjwt.tokens.api_key`) takes the same steps with the key's
format and checksum in place of the signature: its session is a row like any other.

A cold look-up loads the session and its user from the store; if the store cannot answer the
caller gets 503 ``store_unavailable``, never a 401 and never a 200.

Counting for metrics costs the warm path one integer bump; refusals and store reads are
counted on their own (slower) paths, and latency is timed by :meth:`RequestChecker.timed_check`
at the HTTP edge (see :mod:`sessionjwt.support.counters`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from time import perf_counter

from sessionjwt.clock import Clock
from sessionjwt.errors import (
    InvalidToken,
    SessionExpired,
    SessionJWTError,
    SessionRevoked,
    TokenExpired,
    UnknownSigningKey,
)
from sessionjwt.principal import Principal
from sessionjwt.sessions.liveness.cache import LiveEntry, LivenessCache, principal_of
from sessionjwt.sessions.liveness.feed import InvalidationFeed, Memory
from sessionjwt.sessions.model import API_KEY_KIND, SessionRecord, liveness_error
from sessionjwt.sessions.store import SessionStore
from sessionjwt.support.counters import CheckStats
from sessionjwt.tokens.access import AccessTokenCodec
from sessionjwt.tokens.api_key import API_KEY_PREFIX, hash_key_secret, parse_api_key
from sessionjwt.tokens.claims import AccessClaims

KEY_REFUSAL_EVERY = 60.0  # seconds between audit rows for one ended key presented again
REFUSALS_REMEMBERED = 10_000


class RequestChecker:
    def __init__(
        self,
        *,
        codec: AccessTokenCodec,
        store: SessionStore,
        cache: LivenessCache,
        feed: InvalidationFeed,
        clock: Clock,
        ensure_ready: Callable[[], Awaitable[None]],
        reload_keys: Callable[[bool], Awaitable[bool]],
        verified_cache_size: int,
        last_seen_resolution: float,
    ) -> None:
        self._codec = codec
        self._store = store
        self._cache = cache
        self._feed = feed
        self._clock = clock
        self._ensure_ready = ensure_ready
        self._reload_keys = reload_keys
        self._leeway = codec.policy.leeway_seconds
        self._verified: dict[str, AccessClaims] = {}
        self._verified_max = verified_cache_size
        self._resolution = last_seen_resolution
        self.dirty_last_seen: dict[str, float] = {}
        self.stats = CheckStats()
        self._verified_keys: dict[str, str] = {}  # API key → its session id, hash compared
        self._refusals_audited: dict[str, float] = {}
        # Writes the audit row for an ended key presented again (set by the composition root).
        self.on_key_refused: Callable[[SessionRecord, str, float], Awaitable[None]] | None = None

    async def check(self, token: str) -> Principal:
        stats = self.stats
        stats.checks += 1
        now = self._clock.now()
        try:
            if self._feed.keys_changed():  # another process rotated or retired a key
                await self._reload_keys(True)
            claims = self._verified.get(token)
            if claims is None:
                if token.startswith(API_KEY_PREFIX):
                    return await self._check_key(token, now)
                claims = await self._verify(token, now)
            elif now >= claims.exp + self._leeway:
                del self._verified[token]
                raise TokenExpired()
        except SessionJWTError as refusal:
            stats.refuse(refusal.code, early=True)
            raise

        try:
            memory = self._feed.changed()
            if memory:
                if memory != Memory.BYPASS:
                    self._cache.clear()
                entry = None  # the store answers this one
            else:
                entry = self._cache.sessions.get(claims.sid)
            if entry is None or entry.user.stale:
                stats.misses += 1
                entry = await self._load(claims.sid)
            session = entry.session
            if session.user_id != claims.sub:
                raise InvalidToken("token subject does not own its session")
            error = liveness_error(session, entry.user, now)
            if error is not None:
                if isinstance(error, SessionExpired) and now < session.expires_at:
                    # Idle by our last-seen; another process may have seen it since. Ask the
                    # store.
                    self._cache.forget_session(session.id)
                    entry = await self._load(claims.sid)
                    session = entry.session
                    error = liveness_error(session, entry.user, now)
                if error is not None:
                    raise error
        except SessionJWTError as refusal:
            stats.refuse(refusal.code, early=False)
            raise
        if now - session.last_seen_at >= self._resolution:
            session.last_seen_at = now
            self.dirty_last_seen[session.id] = now
        return entry.principal

    async def _check_key(self, key: str, now: float) -> Principal:
        """An API key (:mod:`sessionjwt.tokens.api_key`): the same liveness path as a token.

        Format and checksum first, without I/O; then the key's session from the same cache
        (same feed rules, same ``_load`` on a miss); the secret's SHA-256 compared in constant
        time once per key string (remembered like a verified token: a key's hash never
        changes); then ``liveness_error`` as for any session."""
        stats = self.stats
        key_id = self._verified_keys.get(key)
        secret: str | None = None
        try:
            if key_id is None:
                key_id, secret = parse_api_key(key)
        except SessionJWTError as refusal:
            stats.refuse(refusal.code, early=True)
            raise
        try:
            memory = self._feed.changed()
            if memory:
                if memory != Memory.BYPASS:
                    self._cache.clear()
                entry = None
            else:
                entry = self._cache.sessions.get(key_id)
            if entry is None or entry.user.stale:
                stats.misses += 1
                entry = await self._load(key_id, missing=InvalidToken())
            session = entry.session
            if secret is not None:
                expected = session.key_hash
                if (
                    session.kind != API_KEY_KIND
                    or expected is None
                    or not hmac.compare_digest(hash_key_secret(secret), expected)
                ):
                    raise InvalidToken()
                if self._verified_max:
                    if len(self._verified_keys) >= self._verified_max:
                        del self._verified_keys[next(iter(self._verified_keys))]
                    self._verified_keys[key] = key_id
            error = liveness_error(session, entry.user, now)
            if error is not None:
                await self._key_refused(session, error, now)
                raise error
        except SessionJWTError as refusal:
            stats.refuse(refusal.code, early=False)
            raise
        if now - session.last_seen_at >= self._resolution:
            session.last_seen_at = now
            self.dirty_last_seen[session.id] = now
        return entry.principal

    async def _key_refused(
        self, session: SessionRecord, error: SessionJWTError, now: float
    ) -> None:
        """Audit a genuine key presented after it ended, at most once a minute per key (in
        memory, bounded), so whoever holds it cannot fill the audit table."""
        last = self._refusals_audited.get(session.id)
        if self.on_key_refused is None or (last is not None and now - last < KEY_REFUSAL_EVERY):
            return
        if len(self._refusals_audited) >= REFUSALS_REMEMBERED:
            self._refusals_audited.clear()
        self._refusals_audited[session.id] = now
        try:
            await self.on_key_refused(session, error.code, now)
        except SessionJWTError:
            pass  # the refusal stands whether or not the audit row could be written

    async def timed_check(self, token: str) -> Principal:
        """:meth:`check`, timed into the latency histogram: what the HTTP edge calls, where a
        clock pair is noise beside the request itself. The bare ``check`` stays untimed."""
        started = perf_counter()
        try:
            return await self.check(token)
        finally:
            self.stats.observe(perf_counter() - started)

    async def _verify(self, token: str, now: float) -> AccessClaims:
        await self._ensure_ready()
        try:
            claims = self._codec.verify(token, now)
        except UnknownSigningKey:
            # Signed by a key another instance just made (an emergency rotation)? Reload the
            # ring, at most once a second whatever an attacker sends, and judge again.
            if not await self._reload_keys(False):
                raise
            claims = self._codec.verify(token, now)
        if self._verified_max:
            if len(self._verified) >= self._verified_max:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        return claims

    async def _load(self, session_id: str, missing: SessionJWTError | None = None) -> LiveEntry:
        generation = self._cache.generation
        loaded = await self._store.load(session_id)
        if loaded is None:
            raise missing or SessionRevoked("The session behind this token no longer exists.")
        session, user = loaded
        if session.id != session_id:
            raise InvalidToken()
        entry = self._cache.put(session, user, generation)
        if entry is None:  # invalidated while we loaded: answer from the fresh row, keep nothing
            entry = LiveEntry(session, user, principal_of(session, user))
        return entry

    def forget_verified_tokens(self) -> None:
        """Drop every remembered verification (the key ring changed)."""
        self._verified = {}
        self._verified_keys = {}

    def take_dirty_last_seen(self) -> dict[str, float]:
        dirty, self.dirty_last_seen = self.dirty_last_seen, {}
        return dirty
