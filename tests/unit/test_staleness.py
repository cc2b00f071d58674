"""The staleness watchdog, on an injected clock: no wall-clock waits, no timing assertions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.domain import MarketData
from gateways.marketdata.feed import Feed, FeedCounters, FeedHealth
from gateways.marketdata.staleness import StaleChange, StalenessWatchdog

S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 10 * S

    def __call__(self) -> int:
        return self.now


def _watchdog(timeout: float = 2.0) -> tuple[StalenessWatchdog, Clock, list[StaleChange]]:
    clock, changes = Clock(), list[StaleChange]()
    return StalenessWatchdog(timeout, changes.append, clock), clock, changes


def test_silence_past_the_timeout_marks_stale_once_and_an_update_clears_it() -> None:
    watchdog, clock, changes = _watchdog()
    watchdog.register("ws", "BTCUSDT")
    watchdog.register("ws", "ETHUSDT")
    clock.now += 2 * S  # exactly the timeout: not yet
    assert watchdog.check() == []
    watchdog.touch("ws", "ETHUSDT")
    clock.now += 1
    assert watchdog.check() == [StaleChange("ws", "BTCUSDT", True, 2 * S + 1, 12 * S + 1)]
    clock.now += 10 * S
    watchdog.check()  # still stale: no second report; ETHUSDT now goes stale too
    assert [(c.symbol, c.stale) for c in changes] == [("BTCUSDT", True), ("ETHUSDT", True)]
    assert watchdog.stale_symbols() == {"BTCUSDT", "ETHUSDT"} and watchdog.stale_count == 2
    watchdog.touch("ws", "BTCUSDT")
    assert changes[-1] == StaleChange("ws", "BTCUSDT", False, 12 * S + 1, 22 * S + 1)
    assert not watchdog.is_stale("ws", "BTCUSDT") and watchdog.is_stale("ws", "ETHUSDT")
    assert watchdog.stale_symbols() == {"ETHUSDT"}
    clock.now += S
    assert watchdog.check() == []  # the timeout restarted at the update


def test_one_stale_feed_marks_its_symbol_even_if_another_feed_is_alive() -> None:
    watchdog, clock, _ = _watchdog()
    watchdog.register("ws", "BTCUSDT")
    watchdog.register("redis", "BTCUSDT")
    clock.now += 3 * S
    watchdog.touch("redis", "BTCUSDT")
    watchdog.check()
    assert watchdog.is_stale("ws", "BTCUSDT") and not watchdog.is_stale("redis", "BTCUSDT")
    assert watchdog.stale_symbols() == {"BTCUSDT"}


def test_a_failing_callback_is_counted_and_watching_goes_on() -> None:
    clock = Clock()

    def boom(change: StaleChange) -> None:
        raise RuntimeError("risk overlay unavailable")

    watchdog = StalenessWatchdog(1.0, boom, clock)
    watchdog.register("ws", "A")
    watchdog.register("ws", "B")
    clock.now += 2 * S
    assert len(watchdog.check()) == 2
    assert watchdog.callback_errors == 2 and watchdog.stale_count == 2


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        StalenessWatchdog(0, lambda change: None)


class ScriptedFeed(Feed):
    def __init__(self, clock: Clock, gaps_ns: list[int]) -> None:
        self.symbol = "BTCUSDT"
        self.health = FeedHealth.LIVE
        self.counters = FeedCounters()
        self.clock = clock
        self.gaps_ns = gaps_ns
        self.watchdog: StalenessWatchdog | None = None
        self.seen: list[tuple[FeedHealth, bool]] = []

    def __aiter__(self) -> AsyncIterator[MarketData]:
        return self._run()

    async def _run(self) -> AsyncIterator[MarketData]:
        for i, gap in enumerate(self.gaps_ns):
            self.clock.now += gap
            assert self.watchdog is not None
            self.watchdog.check()  # what the periodic task would do during the silence
            self.seen.append((self.health, self.watchdog.is_stale("ws", self.symbol)))
            yield MarketData(self.symbol, i)

    async def close(self) -> None:
        return None


async def test_watching_a_feed_sets_and_restores_its_health() -> None:
    watchdog, clock, changes = _watchdog()
    feed = ScriptedFeed(clock, [S, 5 * S, S])
    feed.watchdog = watchdog
    received = [m async for m in watchdog.watch("ws", feed)]
    assert len(received) == 3
    # during the 5 s silence the feed showed STALE; the message after it restored LIVE
    assert feed.seen == [(FeedHealth.LIVE, False), (FeedHealth.STALE, True),
                         (FeedHealth.LIVE, False)]
    assert [c.stale for c in changes] == [True, False]
    assert feed.health is FeedHealth.LIVE
