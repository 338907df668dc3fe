"""Stopping background tasks the same way everywhere."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

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
