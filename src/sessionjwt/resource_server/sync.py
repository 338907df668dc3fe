"""The resource server for synchronous code (WSGI: Flask, Django, gunicorn sync workers).

The async :class:`~sessionjwt.resource_server.verifier.ResourceServer` does the work; this
module only gives it a home. One daemon thread per process owns one asyncio loop, on which the
resource server, its HTTP client, its JWKS refresher and (``redis`` mode) its feed listener all
live. A request thread submits :meth:`ResourceServer.check` with
:func:`asyncio.run_coroutine_threadsafe` and waits: no loop per request, and the feed keeps
being applied between requests, so the redis-mode guarantee (a revoke is refused by the very
next request) holds for WSGI workers too.

Fork safety: the thread starts lazily, on the first :meth:`SyncResourceServer.authenticate` in
the process that calls it. A child forked after that (gunicorn ``--preload``) inherits no
running thread, only its state, which :func:`os.register_at_fork` resets so that the child
starts its own loop, HTTP client and feed subscription.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Callable

from sessionjwt.errors import MissingToken, StoreUnavailable
from sessionjwt.principal import Principal
from sessionjwt.resource_server.config import ResourceServerConfig
from sessionjwt.resource_server.verifier import ResourceServer
from sessionjwt.support.bearer import parse_bearer

_START_TIMEOUT_S = 10.0
_instances: weakref.WeakSet[SyncResourceServer] = weakref.WeakSet()


class SyncResourceServer:
    """``authenticate(authorization_header) -> Principal`` for synchronous code.

    Raises the async SDK's refusals (:class:`~sessionjwt.errors.SessionJWTError` with the
    issuer's codes and statuses); an issuer that cannot be reached is 503
    ``store_unavailable``, never an acceptance. Safe to share between threads.
    """

    def __init__(
        self,
        config: ResourceServerConfig,
        *,
        factory: Callable[[ResourceServerConfig], ResourceServer] = ResourceServer,
    ) -> None:
        self.config = config
        self._factory = factory
        self._lock = threading.Lock()
        self._reset()
        _instances.add(self)

    def _reset(self) -> None:
        """Forget the loop and server: in a forked child they belong to a thread that is gone."""
        self._lock = threading.Lock()  # a lock held at fork time stays held in the child
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._rs: ResourceServer | None = None
        self._pid = os.getpid()

    # -- the check -------------------------------------------------------------------------

    def authenticate(self, authorization_header: str | None) -> Principal:
        """The live principal behind an ``Authorization: Bearer …`` value, or a refusal."""
        return self.check(parse_bearer(authorization_header))

    def check(self, token: str) -> Principal:
        """The live principal behind a bare token (see :meth:`ResourceServer.check`)."""
        if not token:
            raise MissingToken()
        loop, rs = self._running()
        future = asyncio.run_coroutine_threadsafe(rs.check(token), loop)
        # Bounded: the HTTP client times out first; a stuck loop is a 503, not a hang.
        limit = self.config.http_timeout * 3 + 1
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError as error:
            future.cancel()
            raise StoreUnavailable("The token cannot be checked now.") from error

    @property
    def resource_server(self) -> ResourceServer:
        """The async resource server on this process's loop (started on first use)."""
        return self._running()[1]

    # -- the background loop ---------------------------------------------------------------

    def _running(self) -> tuple[asyncio.AbstractEventLoop, ResourceServer]:
        loop, rs = self._loop, self._rs
        if loop is not None and rs is not None and self._pid == os.getpid():
            return loop, rs
        with self._lock:
            if self._pid != os.getpid():  # forked without the at-fork hook (should not happen)
                self._reset()
            if self._loop is None or self._rs is None:
                return self._start()
            return self._loop, self._rs

    def _start(self) -> tuple[asyncio.AbstractEventLoop, ResourceServer]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="sessionjwt-resource-server", daemon=True)
        thread.start()
        ready.wait(_START_TIMEOUT_S)

        async def build() -> ResourceServer:
            return self._factory(self.config)  # its httpx client and locks bind to this loop

        rs = asyncio.run_coroutine_threadsafe(build(), loop).result(_START_TIMEOUT_S)
        self._loop, self._thread, self._rs = loop, thread, rs
        # Fetch the keys and subscribe now; a failure here is retried by the first check.
        started = asyncio.run_coroutine_threadsafe(rs.start(), loop)
        try:
            started.result(_START_TIMEOUT_S)
        except Exception:  # noqa: S110 - fail closed later: check() starts again and raises
            pass
        return loop, rs

    def close(self) -> None:
        """Stop the feed and the loop of this process (idempotent; e.g. at worker exit)."""
        with self._lock:
            loop, rs, thread = self._loop, self._rs, self._thread
            if loop is None or self._pid != os.getpid():
                self._reset()
                return
            try:
                if rs is not None:
                    asyncio.run_coroutine_threadsafe(rs.close(), loop).result(_START_TIMEOUT_S)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                if thread is not None:
                    thread.join(_START_TIMEOUT_S)
                loop.close()
                self._reset()


def _after_fork_in_child() -> None:
    for instance in list(_instances):
        instance._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
