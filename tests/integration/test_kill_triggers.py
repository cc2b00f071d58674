"""The kill switch pulled without the API: the Redis kill key (against the real Redis on
127.0.0.1:6379) and SIGUSR1 (a real signal to this process)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid

import pytest
import redis

from core.domain import Side
from risk.overlay import RiskOverlay
from risk.state import KillTrigger, TradingState
from service.kill_triggers import (
    KILL_SIGNAL,
    OperatorKill,
    RedisKillKey,
    install_kill_signal,
    kill_key,
)
from service.state.journal import MemoryJournal
from tests.support.risk import make_overlay, new
from tests.support.session import until

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def namespace() -> str:
    return f"t-kill-{uuid.uuid4().hex}"


def _killer() -> tuple[OperatorKill, RiskOverlay, MemoryJournal]:
    """The kill as the service builds it, over an overlay with one order working."""
    overlay = make_overlay()
    assert overlay.check(new(Side.BUY, 100), 0).allowed
    journal = MemoryJournal()
    return OperatorKill(overlay, journal, lambda: 1), overlay, journal


async def test_a_set_kill_key_halts_cancels_and_is_consumed(namespace: str) -> None:
    kill, overlay, journal = _killer()
    watch = RedisKillKey(REDIS_URL, namespace, kill)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert await watch.poll_once() is False  # nothing asked: nothing happens
        assert overlay.state is TradingState.ACTIVE
        client.set(kill_key(namespace), "venue incident")
        assert await watch.poll_once() is True
        assert overlay.state is TradingState.HALTED
        assert overlay.kills == {KillTrigger.OPERATOR: 1}
        assert client.exists(kill_key(namespace)) == 0  # one request, one kill
        assert await watch.poll_once() is False
        (entry,) = journal.entries
        assert entry["kind"] == "operator" and entry["action"] == "kill"
        assert entry["who"] == f"redis key {namespace}:kill"
        assert entry["reason"].startswith("venue incident; trading state now halted")
        assert "cancels=1" in entry["reason"]
    finally:
        client.delete(kill_key(namespace))
        await watch._redis.aclose()  # noqa: SLF001


async def test_an_unreachable_redis_is_logged_once_and_never_raises(
        caplog: pytest.LogCaptureFixture) -> None:
    kill, overlay, journal = _killer()
    watch = RedisKillKey("redis://127.0.0.1:1/0", "x", kill)
    with caplog.at_level(logging.ERROR, logger="execagent.service.kill_triggers"):
        for _ in range(3):
            assert await watch.poll_once() is False
    assert len([r for r in caplog.records if "cannot read the kill key" in r.message]) == 1
    assert overlay.state is TradingState.ACTIVE and not journal.entries
    await watch._redis.aclose()  # noqa: SLF001


async def test_the_watch_task_acts_on_a_key_set_while_it_runs(namespace: str) -> None:
    kill, overlay, _journal = _killer()
    task = asyncio.create_task(RedisKillKey(REDIS_URL, namespace, kill, 0.01).run())
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.set(kill_key(namespace), "from a redis client")
        assert await until(lambda: overlay.state is TradingState.HALTED)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        client.delete(kill_key(namespace))


async def test_sigusr1_engages_the_kill_switch() -> None:
    kill, overlay, journal = _killer()
    loop = asyncio.get_running_loop()
    install_kill_signal(loop, kill)
    try:
        os.kill(os.getpid(), KILL_SIGNAL)
        assert await until(lambda: overlay.state is TradingState.HALTED)
        assert journal.entries[0]["who"] == "signal"
        assert journal.entries[0]["reason"].startswith("signal SIGUSR1;")
    finally:
        loop.remove_signal_handler(KILL_SIGNAL)


def test_a_blank_reason_is_named_as_missing() -> None:
    kill, overlay, journal = _killer()
    assert kill("  ", "redis key x:kill") == 1
    assert journal.entries[0]["reason"].startswith("no reason given;")
    assert overlay.state is TradingState.HALTED
