"""Cross-instance invalidation over Redis pub/sub, acknowledged: a revoke returns only once no
other process can still accept the session from memory.

Every process (a *member*, id ``<pid>-<random>``) subscribes to one channel and to its own
acknowledgement channel. A committed revoke publishes what it changed (see
:class:`~sessionjwt.sessions.liveness.feed.Invalidation`) in an envelope naming the revoker; each
member applies it to its memory in place (or forgets what it cannot apply in place) and
acknowledges it. The revoke call waits for those acknowledgements — see
:mod:`.acknowledgement` for why that, plus leases, is exact:

* **heartbeat** — every ``heartbeat`` seconds a member runs one script that renews its entry
  in the member registry and publishes ``h:<member>:<sent>``, ``sent`` being its own
  monotonic clock when it sent it. Hearing it back proves the whole path (our publish →
  Redis → our subscription) alive, and that every message Redis processed before it has been
  applied. The member trusts memory only within ``stale_after`` (the *lease*) of ``sent``;
  outside it, :meth:`RedisFeed.changed` answers True on every call and every check reads the
  store (slower, never wrong).
* **revoke** — one script publishes ``m:<revoker>:<seq>:<invalidation>`` and returns the
  registry as Redis holds it at that instant. The revoker waits for ``<seq>:<member>`` from
  each listed member on ``<channel>:acks:<revoker>`` (about a millisecond), and for any that
  stays silent until its lease has run out (at most ``stale_after`` + a 5 ms margin).
* **leave** — on close a member stops trusting memory, removes itself from the registry and
  publishes ``h:<member>:bye``, so nobody waits for it.

If the revoking process cannot publish, the revoke call fails with 503 (the revoke itself is
durable) and the message is re-announced with every heartbeat until Redis takes it. A member
whose subscription breaks stops trusting memory at once; on resubscribing it drops all memory
once, after Redis confirmed the subscription, so nothing published from then on is missed.
Plain (unenveloped) invalidations are still applied, never acknowledged.

Longer than our other modules on purpose: subscription, heartbeat, announcement and
acknowledgement share one connection state and one set of Lua scripts, and the proof that
they keep the promise is easier to check when it reads in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from sessionjwt.errors import StoreUnavailable
from sessionjwt.sessions.liveness.acknowledgement import (
    CLOCK_MARGIN_S,
    Announcement,
    Outcome,
    decode_registry_entry,
    encode_registry_entry,
)
from sessionjwt.sessions.liveness.feed import Invalidation, Memory
from sessionjwt.support.background import cancel_all
from sessionjwt.support.counters import ANNOUNCE_BUCKETS, Durations

logger = logging.getLogger("sessionjwt.feed")
HEARTBEAT_PREFIX = "h:"
ENVELOPE_PREFIX = "m:"
LEAVING = "bye"
CLOSE_TIMEOUT_S = 2.0
MAX_UNANNOUNCED = 10_000
REGISTRY_FORGET_MS = 60_000  # entries of members gone this long are pruned by any heartbeat
ACK_BATCH = 256
# Bound once: ``changed`` runs on every request check.
_CURRENT, _DROP, _BYPASS = Memory.CURRENT, Memory.DROP, Memory.BYPASS
_monotonic = time.monotonic

# KEYS: registry, channel. ARGV: registry entry, lease in ms, heartbeat message.
# The entry expires (on Redis's clock) no earlier than the lease it renews, since the script
# runs after the heartbeat's send time; the margin covers clock-rate differences.
HEARTBEAT_SCRIPT = f"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]) + {round(CLOCK_MARGIN_S * 1000)}, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - {REGISTRY_FORGET_MS})
redis.call('PEXPIRE', KEYS[1], {REGISTRY_FORGET_MS})
return redis.call('PUBLISH', KEYS[2], ARGV[3])
"""
# KEYS: registry, channel. ARGV: message. Publish, then list who might still trust memory.
ANNOUNCE_SCRIPT = """
redis.call('PUBLISH', KEYS[2], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
"""
# KEYS: registry, channel. ARGV: registry entry, goodbye message.
LEAVE_SCRIPT = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('PUBLISH', KEYS[2], ARGV[2])
"""


class FeedTarget(Protocol):
    """What the feed applies messages to: the issuer's ``LivenessCache``, or a resource
    server's memory. ``clear`` is the fail-closed answer to anything that may have been missed
    or is not understood."""

    def apply(self, change: Invalidation, now: float) -> None: ...

    def clear(self) -> None: ...


def new_member_id() -> str:
    """Unique per process and start; the pid lets an operator find a member's connections."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


class RedisFeed:
    def __init__(
        self,
        url: str,
        cache: FeedTarget,
        *,
        channel: str = "sessionjwt:invalidations",
        heartbeat: float = 0.025,
        stale_after: float = 0.1,
    ) -> None:
        if stale_after <= heartbeat:
            raise ValueError("stale_after must exceed the heartbeat interval")
        self._url = url
        self._cache = cache
        self._channel = channel
        self._registry = f"{channel}:members"
        self._heartbeat = heartbeat
        self._lease = stale_after
        # A subscription this long without our own heartbeat is given up and made anew.
        # Shorter silences only suspend trust: delivery stays ordered on a live subscription.
        self._silence_limit = max(1.0, 4 * stale_after)
        self.member = new_member_id()
        self._entry = encode_registry_entry(self.member, stale_after)
        self._acks_channel = self.acks_channel(self.member)
        self._trusted_until = -float("inf")  # monotonic: lease of the last heartbeat heard
        self._heard_at = -float("inf")  # monotonic: when we last heard our own heartbeat
        self._resubscribed = False
        self._publisher: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._first_heartbeat = asyncio.Event()
        self._closing = False
        self._keys_changed = False
        self._unannounced: dict[str, None] = {}  # encoded, in order, awaiting a publish
        self._sequence = 0
        self._pending: dict[int, Announcement] = {}
        self._acks: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.messages_applied = 0
        self.waits = {outcome: Durations(ANNOUNCE_BUCKETS) for outcome in Outcome}

    def acks_channel(self, member: str) -> str:
        return f"{self._channel}:acks:{member}"

    # -- the per-request question ----------------------------------------------------------

    def changed(self) -> Memory:
        if _monotonic() > self._trusted_until:
            return _BYPASS  # lease lapsed (or no subscription): every check reads the store
        if self._resubscribed:
            self._resubscribed = False
            return _DROP
        return _CURRENT

    def keys_changed(self) -> bool:
        changed, self._keys_changed = self._keys_changed, False
        return changed

    @property
    def trusting(self) -> bool:
        """Memory may answer right now (the lease of our last heartbeat holds)."""
        return time.monotonic() <= self._trusted_until

    @property
    def healthy(self) -> bool:
        """Subscribed and hearing our own heartbeat: what readiness reports. A lapse shorter
        than this (a stalled event loop) suspends trust without making the instance unready."""
        return not self._closing and time.monotonic() - self._heard_at <= self._silence_limit

    async def healthy_within(self, seconds: float) -> bool:
        """``healthy``, or becomes so within ``seconds``. A stall of this process (a busy
        loop, a paused VM) delays the probe and our own heartbeat alike; once the loop runs
        again the overdue heartbeat is heard at once, so only a silence that outlasts the
        wait is reported."""
        deadline = time.monotonic() + seconds
        while not self.healthy:
            if self._closing or time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self._heartbeat)
        return True

    # -- announcing ------------------------------------------------------------------------

    async def announce(self, change: Invalidation) -> None:
        """Publish, then wait until every member has applied it or let its lease run out.

        On failure, keep it to publish again: a revoke that is durable but unannounced is
        re-announced by the heartbeat loop as soon as Redis answers, so it reaches members
        that stayed subscribed even if the caller never retries."""
        started = time.monotonic()
        inner = change.encode()
        self._sequence += 1
        sequence = self._sequence
        announcement = self._pending[sequence] = Announcement()
        try:
            message = f"{ENVELOPE_PREFIX}{self.member}:{sequence}:{inner}"
            try:
                entries = await self._script("announce", ANNOUNCE_SCRIPT)(
                    keys=[self._registry, self._channel], args=[message]
                )
            except Exception as error:
                # RedisError, OSError and TimeoutError are the usual ones, but a connection
                # killed mid-command can surface as others (an EOF, a reset parser). Whatever
                # it is, the revoke is durable and unannounced: say so (503), never a 500.
                if not isinstance(error, RedisError | OSError | TimeoutError):
                    logger.warning("announce failed: %s", type(error).__name__)
                self._keep_for_later(inner)
                self.waits[Outcome.UNANNOUNCED].observe(time.monotonic() - started)
                raise StoreUnavailable(
                    "The revoke is recorded but could not be announced to other instances; retry."
                ) from error
            announcement.published(self._members(entries))
            outcome = await announcement.settled()
            self.waits[outcome].observe(time.monotonic() - started)
            if outcome is Outcome.LEASE_EXPIRED:
                logger.info(
                    "revoke waited out the lease of %d silent member(s)",
                    len(announcement.waiting_for),
                )
        finally:
            self._pending.pop(sequence, None)

    def _members(self, entries: list[bytes]) -> list[tuple[str, float]]:
        members = []
        for raw in entries:
            decoded = decode_registry_entry(raw.decode(errors="replace"))
            if decoded is not None and decoded[0] != self.member:
                members.append(decoded)
        return members

    def _keep_for_later(self, message: str) -> None:
        if len(self._unannounced) >= MAX_UNANNOUNCED:
            # Too many to replay one by one: one message that makes everyone reload instead.
            self._unannounced = {Invalidation("global", "unannounced").encode(): None}
            return
        self._unannounced[message] = None

    async def _announce_kept(self) -> None:
        """Publish what failed earlier, oldest first; stop at the first failure."""
        for message in list(self._unannounced):
            await self._client().publish(self._channel, message)
            self._unannounced.pop(message, None)
            logger.info("re-announced a revoke that Redis missed earlier")

    def _client(self) -> Redis:
        if self._publisher is None:
            self._publisher = Redis.from_url(
                self._url,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                client_name=f"sjwt.{self.member}.publish",
            )
        return self._publisher

    def _script(self, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._client().register_script(source)
        return script

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="sessionjwt-feed-listen"),
            asyncio.create_task(self._beat_forever(), name="sessionjwt-feed-heartbeat"),
            asyncio.create_task(self._acknowledge_forever(), name="sessionjwt-feed-acks"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_heartbeat.wait(), timeout=5.0)
        if not self.healthy:
            logger.error("Redis feed not healthy at start-up; checks read the store meanwhile")

    async def close(self) -> None:
        """Leave the membership: stop trusting memory first, then say so, so that nobody
        waits out our lease for revokes made from now on."""
        self._closing = True
        self._trusted_until = -float("inf")
        # Bounded: a task stuck inside redis-py's reconnect must not hang the shutdown.
        await cancel_all(self._tasks, grace=CLOSE_TIMEOUT_S)
        self._tasks = []
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                goodbye = f"{HEARTBEAT_PREFIX}{self.member}:{LEAVING}"
                leave = self._script("leave", LEAVE_SCRIPT)
                await asyncio.wait_for(
                    leave(keys=[self._registry, self._channel], args=[self._entry, goodbye]),
                    timeout=CLOSE_TIMEOUT_S,
                )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._publisher.aclose(), timeout=CLOSE_TIMEOUT_S)
            self._publisher = None
            self._scripts = {}

    # -- background work -------------------------------------------------------------------
    # Only cancellation or close() ends these loops: any other failure is logged and retried,
    # since a feed that stopped would leave this instance reading the store for good.

    async def _beat_forever(self) -> None:
        while not self._closing:
            try:
                if self._unannounced:
                    await self._announce_kept()
                beat = f"{HEARTBEAT_PREFIX}{self.member}:{time.monotonic_ns()}"
                await self._script("heartbeat", HEARTBEAT_SCRIPT)(
                    keys=[self._registry, self._channel],
                    args=[self._entry, round(self._lease * 1000), beat],
                )
            except (RedisError, OSError, TimeoutError):
                pass  # the lease runs out and the listener notices the silence
            except Exception:
                logger.exception("Redis feed heartbeat failed; retrying")
            await asyncio.sleep(self._heartbeat)

    async def _acknowledge_forever(self) -> None:
        """Send acknowledgements in pipelined batches, off the listener's path."""
        while not self._closing:
            batch = [await self._acks.get()]
            while not self._acks.empty() and len(batch) < ACK_BATCH:
                batch.append(self._acks.get_nowait())
            try:
                async with self._client().pipeline(transaction=False) as pipe:
                    for revoker, sequence in batch:
                        pipe.publish(self.acks_channel(revoker), f"{sequence}:{self.member}")
                    await pipe.execute()
            except (RedisError, OSError, TimeoutError):
                pass  # the revoker waits out our lease instead; our own lease lapses too
            except Exception:
                logger.exception("Redis feed acknowledgement failed")

    async def _listen_forever(self) -> None:
        backoff = 0.05
        while not self._closing:
            connection = Redis.from_url(
                self._url,
                socket_timeout=self._silence_limit,
                socket_connect_timeout=1.0,
                client_name=f"sjwt.{self.member}.listen",
            )
            try:
                async with connection.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel, self._acks_channel)
                    await self._confirmed(pubsub, 2)
                    # Redis now delivers everything published from here on; what was
                    # published while we were away is lost, so drop all memory once.
                    self._cache.clear()
                    self._resubscribed = True
                    self._keys_changed = True  # a rotation may have been missed too
                    backoff = 0.05
                    await self._consume(pubsub)
            except (RedisError, OSError, TimeoutError) as error:
                logger.warning("Redis feed lost (%s); reading the store until it is back", error)
            except Exception:
                logger.exception("Redis feed listener failed; resubscribing")
            finally:
                # Whatever ended the subscription, memory cannot be vouched for from now on:
                # every check reads the store until our heartbeat comes back on a new one.
                self._trusted_until = self._heard_at = -float("inf")
                with contextlib.suppress(Exception):
                    await connection.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _confirmed(self, pubsub: Any, channels: int) -> None:
        """Wait for Redis to confirm each SUBSCRIBE: only then is nothing published missed."""
        deadline = time.monotonic() + self._silence_limit
        while channels and time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=self._heartbeat)
            if message is not None and message.get("type") == "subscribe":
                channels -= 1
        if channels:
            raise TimeoutError("Redis did not confirm the subscription")

    async def _consume(self, pubsub: Any) -> None:
        subscribed_at = time.monotonic()
        acks_channel = self._acks_channel.encode()
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=self._heartbeat
            )
            if message is None:
                silent_since = max(self._heard_at, subscribed_at)
                if time.monotonic() - silent_since > self._silence_limit:
                    raise TimeoutError("no heartbeat heard for too long")
                continue
            data = message.get("data")
            text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
            if message.get("channel") == acks_channel:
                self._acknowledged(text)
            elif text.startswith(HEARTBEAT_PREFIX):
                self._heartbeat_heard(text[len(HEARTBEAT_PREFIX) :])
            else:
                self._invalidation_heard(text)

    def _heartbeat_heard(self, body: str) -> None:
        member, _, stamp = body.partition(":")
        if member == self.member:
            if stamp.isdigit():
                now = time.monotonic()
                self._heard_at = now
                # Trust runs from when the heartbeat was *sent*: everything Redis processed
                # before it has been applied by now, later messages not necessarily.
                self._trusted_until = max(self._trusted_until, int(stamp) / 1e9 + self._lease)
                self._first_heartbeat.set()
        elif stamp == LEAVING:
            for announcement in self._pending.values():
                announcement.left(member)

    def _acknowledged(self, text: str) -> None:
        sequence, _, member = text.partition(":")
        announcement = self._pending.get(int(sequence)) if sequence.isdigit() else None
        if announcement is not None and member:
            announcement.acknowledged(member)

    def _invalidation_heard(self, text: str) -> None:
        revoker = sequence = None
        if text.startswith(ENVELOPE_PREFIX):
            revoker, _, rest = text[len(ENVELOPE_PREFIX) :].partition(":")
            sequence, _, text = rest.partition(":")
            if revoker == self.member:
                return  # our own: applied in place before it was published
        change = Invalidation.decode(text)
        if change is None:
            # Not a message this version understands (a newer peer, or garbage): something
            # may have changed, so fail closed and forget everything.
            logger.warning("Unknown message on the invalidation channel; dropping memory")
            self._cache.clear()
        else:
            if change.kind == "keys":
                self._keys_changed = True
            self._cache.apply(change, time.time())
            self.messages_applied += 1
        if revoker and sequence and sequence.isdigit():
            self._acks.put_nowait((revoker, sequence))
