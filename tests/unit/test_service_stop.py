"""A stop never hangs on one part: ``stop_within`` gives each step of Service.stop a bound,
names the part that overran, and leaves it; a part that ends (or ends cancelled) is waited
for, and an error it ends with is not swallowed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.app import stop_within


async def test_a_part_that_ignores_its_cancellation_is_named_and_left(
        caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # the bug being guarded against: a cancel swallowed

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    task.cancel()
    with caplog.at_level(logging.ERROR, logger="execagent.service.app"):
        assert await stop_within("the stubborn task", task, timeout_s=0.05) is False
    assert "stopping: the stubborn task did not finish within 0.05 s" in caplog.text
    assert not task.done()  # left to itself, not waited for
    release.set()
    await task


async def test_a_cancelled_task_that_ends_counts_as_stopped() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    task.cancel()
    assert await stop_within("a sleeper", task) is True
    assert task.cancelled()


async def test_a_coroutine_is_waited_for_and_its_error_raised() -> None:
    finished: list[str] = []

    async def cleanup() -> None:
        await asyncio.sleep(0.01)
        finished.append("done")

    async def broken() -> None:
        raise OSError("socket already closed")

    assert await stop_within("a cleanup", cleanup()) is True
    assert finished == ["done"]
    with pytest.raises(OSError, match="socket already closed"):
        await stop_within("a broken cleanup", broken())
