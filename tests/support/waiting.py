"""Waiting in a test for something another task, thread or process makes true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout_s: float = 20.0,
                interval_s: float = 0.01) -> None:
    """Return once ``condition()`` holds. The condition belongs to code that signals nothing
    (a counter, a feed's state), so it is polled; the timeout guards against a hang and is not
    a timing assertion."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the condition itself
            await asyncio.sleep(interval_s)
