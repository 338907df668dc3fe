"""Cross-instance invalidation over Redis pub/sub, with a self-heartbeat that bounds staleness.

Every instance subscribes to one channel. A committed revoke publishes what it changed (see
:class:`~sessionjwt.liveness.feed.Invalidation`): a revoked session, a user's new watermark,
a disabled account. Each listener applies it to its memory in place, so the next request
there is refused without a store read; changes that could widen access (re-enable, roles)
make it reload that user instead.

Pub/sub is fire-and-forget, so a listener must know when it might have missed something.
Each instance publishes a heartbeat every ``heartbeat`` seconds *on the same channel* and
listens for its own: hearing it proves the whole path (our publish → Redis → our
subscription) alive up to that moment. The feed counts as stale — :meth:`changed` answers
True on every call, so every check reads the store (slower, never wrong) — while its last
heartbeat is older than ``stale_after`` (Redis hung, a silent network), and at once when the
subscription breaks, until our heartbeat is heard on the new one. Memory is dropped once on
resubscribing (messages may have been lost while away), after Redis has confirmed the
subscription, so nothing published from then on can be missed.

Guarantee: a revoke that returned on any instance is refused by an instance whose feed is
healthy as soon as the message arrives (pub/sub latency, typically well under a millisecond on
a LAN), and by an instance whose feed is broken no later than ``stale_after`` after its last
heartbeat. If the revoking instance cannot publish, the revoke call fails with 503 (the revoke
itself is durable) and the instance re-announces it every heartbeat until Redis takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from sessionjwt.background import cancel_all
from sessionjwt.errors import StoreUnavailable
from sessionjwt.liveness.feed import Invalidation

logger = logging.getLogger("sessionjwt.feed")
HEARTBEAT_PREFIX = "h:"
CLOSE_TIMEOUT_S = 2.0
MAX_UNANNOUNCED = 10_000


class FeedTarget(Protocol):
    """What the feed applies messages to: the issuer's ``LivenessCache``, or a resource
    server's memory. ``clear`` is the fail-closed answer to anything that may have been missed
    or is not understood."""

    def apply(self, change: Invalidation, now: float) -> None: ...

    def clear(self) -> None: ...


class RedisFeed:
    def __init__(
        self,
        url: str,
        cache: FeedTarget,
        *,
        channel: str = "sessionjwt:invalidations",
        heartbeat: float = 0.2,
        stale_after: float = 1.0,
    ) -> None:
        if stale_after <= heartbeat:
            raise ValueError("stale_after must exceed the heartbeat interval")
        self._url = url
        self._cache = cache
        self._channel = channel
        self._heartbeat = heartbeat
        self._stale_after = stale_after
        self._instance = secrets.token_hex(8)
        self._heard_at = -float("inf")  # monotonic time of our own last heartbeat, heard back
        self._resubscribed = False
        self._publisher: Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.messages_applied = 0
        self._first_heartbeat = asyncio.Event()
        self._closing = False
        self._keys_changed = False
        self._unannounced: dict[str, None] = {}  # encoded, in order, awaiting a publish

    # -- the per-request question ----------------------------------------------------------

    def changed(self) -> bool:
        if time.monotonic() - self._heard_at > self._stale_after:
            return True  # cannot vouch for memory: every check goes to the store
        if self._resubscribed:
            self._resubscribed = False
            return True
        return False

    def keys_changed(self) -> bool:
        changed, self._keys_changed = self._keys_changed, False
        return changed

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._heard_at <= self._stale_after

    # -- announcing ------------------------------------------------------------------------

    async def announce(self, change: Invalidation) -> None:
        """Publish, or keep it to publish again: a revoke that is durable but unannounced is
        re-announced by the heartbeat loop as soon as Redis answers, so it reaches instances
        whose feeds stayed healthy even if the caller never retries."""
        message = change.encode()
        try:
            await self._client().publish(self._channel, message)
        except (RedisError, OSError, TimeoutError) as error:
            self._keep_for_later(message)
            raise StoreUnavailable(
                "The revoke is recorded but could not be announced to other instances; retry."
            ) from error

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
                self._url, socket_timeout=1.0, socket_connect_timeout=1.0
            )
        return self._publisher

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="sessionjwt-feed-listen"),
            asyncio.create_task(self._beat_forever(), name="sessionjwt-feed-heartbeat"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_heartbeat.wait(), timeout=5.0)
        if not self.healthy:
            logger.error("Redis feed not healthy at start-up; checks read the store meanwhile")

    async def close(self) -> None:
        self._closing = True
        # Bounded: a task stuck inside redis-py's reconnect must not hang the shutdown.
        await cancel_all(self._tasks, grace=CLOSE_TIMEOUT_S)
        self._tasks = []
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._publisher.aclose(), timeout=CLOSE_TIMEOUT_S)
            self._publisher = None

    # -- background work -------------------------------------------------------------------
    # Only cancellation or close() ends these loops: any other failure is logged and retried,
    # since a feed that stopped would leave this instance reading the store for good.

    async def _beat_forever(self) -> None:
        beat = f"{HEARTBEAT_PREFIX}{self._instance}"
        while not self._closing:
            try:
                if self._unannounced:
                    await self._announce_kept()
                await self._client().publish(self._channel, beat)
            except (RedisError, OSError, TimeoutError):
                pass  # the listener notices the silence and says so
            except Exception:
                logger.exception("Redis feed heartbeat failed; retrying")
            await asyncio.sleep(self._heartbeat)

    async def _listen_forever(self) -> None:
        backoff = 0.05
        while not self._closing:
            connection = Redis.from_url(
                self._url, socket_timeout=self._stale_after, socket_connect_timeout=1.0
            )
            try:
                async with connection.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._confirmed(pubsub)
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
                self._heard_at = -float("inf")
                with contextlib.suppress(Exception):
                    await connection.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _confirmed(self, pubsub: Any) -> None:
        """Wait for Redis to confirm the SUBSCRIBE: only then is nothing published missed."""
        deadline = time.monotonic() + self._stale_after
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=self._heartbeat)
            if message is not None and message.get("type") == "subscribe":
                return
        raise TimeoutError("Redis did not confirm the subscription")

    async def _consume(self, pubsub: Any) -> None:
        own_beat = f"{HEARTBEAT_PREFIX}{self._instance}"
        subscribed_at = time.monotonic()
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=self._heartbeat
            )
            if message is None:
                silent_since = max(self._heard_at, subscribed_at)
                if time.monotonic() - silent_since > self._stale_after:
                    raise TimeoutError("no heartbeat heard within the staleness bound")
                continue
            data = message.get("data")
            text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
            if text == own_beat:
                self._heard_at = time.monotonic()
                self._first_heartbeat.set()
                continue
            if text.startswith(HEARTBEAT_PREFIX):
                continue  # another instance's heartbeat
            change = Invalidation.decode(text)
            if change is None:
                # Not a message this version understands (a newer peer, or garbage):
                # something may have changed, so fail closed and forget everything.
                logger.warning("Unknown message on the invalidation channel; dropping memory")
                self._cache.clear()
                continue
            if change.kind == "keys":
                self._keys_changed = True
            self._cache.apply(change, time.time())
            self.messages_applied += 1
