"""Background tasks: stopping them the same way everywhere, and work done after the answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

logger = logging.getLogger("sessionjwt")


async def cancel_all(tasks: Iterable[asyncio.Task[None]], *, grace: float | None = None) -> None:
    """Cancel every task and wait for them to unwind, at most ``grace`` seconds.

    A task that failed is logged, not raised: shutting down must not fail because a
    background loop did. One that ignores cancellation past ``grace`` is abandoned, logged.
    """
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if not pending:
        return
    done, stuck = await asyncio.wait(pending, timeout=grace)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=error)
    for task in stuck:
        logger.warning("background task %s did not stop within %s s", task.get_name(), grace)


class Background:
    """Work that runs after the answer, so that how much of it there is never shows in how
    long a request took (an account exists, say).

    A job that fails is logged by the name it was given and its exception's type only: its
    text could echo an address or a token. :meth:`drain` waits for every job, including
    those started by a job; :meth:`close` lets them finish, briefly, then cancels the rest.
    """

    def __init__(self) -> None:
        self.under_way: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``work`` in the background; ``what`` names it in the log ("password-reset
        request")."""
        task = asyncio.create_task(_logged(work, what), name=f"sessionjwt {what}")
        self.under_way.add(task)
        task.add_done_callback(self.under_way.discard)

    async def drain(self) -> None:
        """Wait until nothing is under way (tests, benchmarks and shutdown use it)."""
        while self.under_way:
            await asyncio.wait(list(self.under_way))

    async def close(self, grace: float = 5) -> None:
        """Let the jobs under way finish within ``grace`` seconds; cancel the rest."""
        if self.under_way:
            await asyncio.wait(list(self.under_way), timeout=grace)
        await cancel_all(list(self.under_way))


async def _logged(work: Coroutine[Any, Any, None], what: str) -> None:
    try:
        await work
    except Exception as error:  # nobody awaits a background job: say it failed, loudly
        logger.error("%s failed in the background: %s", what, type(error).__name__)
