"""Is the session behind a verified token still live? Two answers for a service without the store.

``introspection`` — ask the issuer (RFC 7662) and remember the answer for
``introspection_cache_ttl`` seconds (5 by default), per exact token string. **That TTL is the
revocation delay bound of this mode**: a session revoked at the issuer may still be accepted
here for at most that long after this service last asked. Set it to 0 to ask on every request.

``redis`` — the issuing service's own guarantee. This service subscribes to the issuer's
invalidation channel with :class:`~sessionjwt.sessions.liveness.redis_feed.RedisFeed`
(self-heartbeat included). A session seen for the first time is introspected once; after
that its checks are answered from memory with no network at all. Messages are applied as
they arrive:

* ``s:<sid>:<reason>`` → that session is refused from memory;
* ``u:<uid>:…`` (sign-out-everywhere, disable, enable, roles) → that user's entries are
  forgotten, so their next request asks the issuer again;
* ``k:`` → the JWKS is refetched;
* ``g:<time>`` (emergency revoke-all), and anything not understood → all memory is dropped.

Guarantee: a revoke that returned at the issuer is refused here by the very next request. This
service is a member of the channel like every issuer process: it acknowledges each message
after applying it, and the issuer's revoke returns only after that acknowledgement or after
this service's lease (``feed_stale_after``) ran out. Outside its lease — subscription broken,
or its own heartbeat not heard back — memory is not trusted: every request is introspected
until the feed is healthy again, and memory is dropped once on resubscribing. (A ``k:`` is
the exception: the JWKS refetch it asks for is held to ``jwks_keys_message_floor``.) An
introspection that races a message is used for its own request but not remembered (a
generation counter, bumped by every message, must be unchanged since the call began), so a
"live" answer given before a revoke can never outlive it here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sessionjwt.errors import InvalidToken, SessionRevoked
from sessionjwt.principal import Principal
from sessionjwt.resource_server.introspection import IntrospectionClient
from sessionjwt.sessions.liveness.feed import Invalidation, Memory
from sessionjwt.tokens.claims import AccessClaims


class Liveness(Protocol):
    async def principal(self, token: str, claims: AccessClaims) -> Principal:
        """The principal if the session behind the verified token is live; else raise."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class FeedLike(Protocol):
    def changed(self) -> Memory | bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


# -- introspection with a short cache ----------------------------------------------------------


class IntrospectionLiveness:
    """Ask the issuer; remember live and ended answers for ``ttl`` seconds per token."""

    def __init__(
        self,
        client: IntrospectionClient,
        *,
        ttl: float,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._max_entries = max_entries
        self._monotonic = monotonic
        # token → (until, principal or None for "ended"); an ended session never comes back,
        # so remembering it too keeps a replayed dead token from costing an issuer call each.
        self._answers: dict[str, tuple[float, Principal | None]] = {}

    async def principal(self, token: str, claims: AccessClaims) -> Principal:
        now = self._monotonic()
        cached = self._answers.get(token)
        if cached is not None and now < cached[0]:
            if cached[1] is None:
                raise SessionRevoked("The issuer reports that this token's session has ended.")
            return cached[1]
        try:
            principal = await self._client.principal(token, claims)
        except SessionRevoked:
            self._remember(token, now, None)
            raise
        self._remember(token, now, principal)
        return principal

    def _remember(self, token: str, now: float, principal: Principal | None) -> None:
        if self._ttl <= 0:
            return
        self._answers.pop(token, None)
        if len(self._answers) >= self._max_entries:
            del self._answers[next(iter(self._answers))]
        self._answers[token] = (now + self._ttl, principal)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


# -- the Redis feed and an in-memory view of sessions ------------------------------------------


@dataclass(slots=True)
class _Known:
    principal: Principal | None  # None: the issuer said the session has ended
    user_id: str
    revoked: bool = False


class SessionMemory:
    """Sessions this service has had confirmed live, kept current by the issuer's feed.

    A :class:`~sessionjwt.sessions.liveness.redis_feed.FeedTarget`: the feed calls :meth:`apply` for
    each message and :meth:`clear` for anything it cannot vouch for.
    """

    def __init__(self, on_keys_changed: Callable[[], None], max_entries: int = 100_000) -> None:
        self._on_keys_changed = on_keys_changed
        self.max_entries = max_entries
        self.generation = 0
        self.sessions: dict[str, _Known] = {}
        self._by_user: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.sessions)

    def put(self, sid: str, user_id: str, principal: Principal | None, generation: int) -> None:
        """Remember an introspection answer unless any message arrived since ``generation``."""
        if generation != self.generation:
            return
        if len(self.sessions) >= self.max_entries:
            self._forget_session(next(iter(self.sessions)))
        self.sessions[sid] = _Known(principal, user_id)
        self._by_user.setdefault(user_id, set()).add(sid)

    def apply(self, change: Invalidation, now: float) -> None:
        self.generation += 1
        if change.kind == "session":
            known = self.sessions.get(change.id)
            if known is not None:
                known.revoked = True  # revocation is final: refuse from memory
        elif change.kind == "user":
            for sid in self._by_user.pop(change.id, set()):
                self.sessions.pop(sid, None)
        elif change.kind == "keys":
            self._on_keys_changed()
        else:  # "global" (an emergency revoke-all) and any kind added later: fail closed
            self.clear()

    def clear(self) -> None:
        """Called by the feed on resubscribing and on messages it does not understand: drop
        everything, and refetch the keys too (a rotation may have been missed)."""
        self.forget_all()
        self._on_keys_changed()

    def forget_all(self) -> None:
        self.generation += 1
        self.sessions = {}
        self._by_user = {}

    def _forget_session(self, sid: str) -> None:
        known = self.sessions.pop(sid, None)
        if known is not None and (sids := self._by_user.get(known.user_id)) is not None:
            sids.discard(sid)
            if not sids:
                del self._by_user[known.user_id]


class FeedLiveness:
    """Introspect a session once, then answer from memory that the Redis feed keeps current."""

    def __init__(self, client: IntrospectionClient, memory: SessionMemory, feed: FeedLike) -> None:
        self._client = client
        self.memory = memory
        self.feed = feed

    async def principal(self, token: str, claims: AccessClaims) -> Principal:
        memory = self.feed.changed()
        if memory:
            if memory != Memory.BYPASS:
                self.memory.forget_all()  # just resubscribed: messages may have been missed
            return await self._introspect(token, claims)  # lease lapsed: ask the issuer
        known = self.memory.sessions.get(claims.sid)
        if known is None:
            return await self._introspect(token, claims)
        if known.user_id != claims.sub:
            raise InvalidToken("token subject does not own its session")
        if known.revoked or known.principal is None:
            raise SessionRevoked()
        return known.principal

    async def _introspect(self, token: str, claims: AccessClaims) -> Principal:
        generation = self.memory.generation
        try:
            principal = await self._client.principal(token, claims)
        except SessionRevoked:
            self.memory.put(claims.sid, claims.sub, None, generation)
            raise
        self.memory.put(claims.sid, claims.sub, principal, generation)
        return principal

    async def start(self) -> None:
        await self.feed.start()

    async def close(self) -> None:
        await self.feed.close()
