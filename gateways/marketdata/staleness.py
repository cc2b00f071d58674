"""Staleness watchdog: a feed that goes quiet must stop trading on its symbols, loudly.

Why a separate watchdog when the risk overlay already kills on a stale feed
(:meth:`risk.overlay.RiskOverlay.watch`): the overlay's check only fires with orders working and
then engages the kill switch (HALTED, cancels, operator resume). That is the last line. This
watchdog is the first: it notices silence per (feed, symbol) on the monotonic wall clock of
*receipt* (a silent feed produces no event time to compare), whether or not orders are
working, reports each transition once through a callback, and clears by itself when updates
resume. The service maps ``stale=True`` to "no new orders on this symbol" in the risk overlay
and a metric, and ``stale=False`` back; choose ``timeout_seconds`` below the overlay's
``global.stale_feed_seconds`` so new orders stop before the kill switch has to act.

Contract:
- ``touch(feed, symbol)`` on every message (or :meth:`watch` wraps a feed's iterator and
  touches for you); a registered pair that never receives anything goes stale one timeout
  after registration;
- ``check()`` (called periodically by :meth:`run`, or by a test with an injected clock) marks
  pairs silent for more than the timeout stale; each change calls ``on_change`` exactly once;
- ``touch`` of a stale pair clears it at once (the next message is proof of life), calling
  ``on_change`` with ``stale=False``;
- a callback that raises is logged and counted; the watchdog keeps watching.
When a :class:`~gateways.marketdata.feed.Feed` is watched, its ``health`` shows STALE while
stale and goes back to what it was on recovery (unless the feed changed it meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from core.domain import MarketData
from gateways.marketdata.feed import Feed, FeedHealth

log = logging.getLogger(f"execagent.{__name__}")


@dataclass(frozen=True, slots=True)
class StaleChange:
    """One transition: ``silent_ns`` is how long nothing had arrived when it was decided."""

    feed: str
    symbol: str
    stale: bool
    silent_ns: int
    now_ns: int


@dataclass(slots=True)
class _Pair:
    last_ns: int
    stale: bool = False
    feed: Feed | None = None
    health_before: FeedHealth | None = None


class StalenessWatchdog:
    def __init__(self, timeout_seconds: float, on_change: Callable[[StaleChange], None],
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"staleness timeout must be positive, got {timeout_seconds}")
        self.timeout_ns = int(timeout_seconds * 1e9)
        self.on_change = on_change
        self.clock_ns = clock_ns
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self.transitions = 0
        self.callback_errors = 0

    def register(self, feed: str, symbol: str, source: Feed | None = None) -> None:
        """Start watching; the timeout runs from now."""
        self._pairs.setdefault((feed, symbol), _Pair(self.clock_ns())).feed = source

    def touch(self, feed: str, symbol: str) -> None:
        now = self.clock_ns()
        pair = self._pairs.get((feed, symbol))
        if pair is None:
            self._pairs[(feed, symbol)] = _Pair(now)
            return
        silent = now - pair.last_ns
        pair.last_ns = now
        if pair.stale:
            pair.stale = False
            source = pair.feed
            if source is not None and source.health is FeedHealth.STALE \
                    and pair.health_before is not None:
                source.health = pair.health_before
            log.warning("feed %s %s recovered after %.3f s of silence", feed, symbol,
                        silent / 1e9)
            self._notify(StaleChange(feed, symbol, False, silent, now))

    def check(self) -> list[StaleChange]:
        """Mark pairs silent for longer than the timeout stale; the changes made."""
        now = self.clock_ns()
        changes = []
        for (feed, symbol), pair in self._pairs.items():
            silent = now - pair.last_ns
            if not pair.stale and silent > self.timeout_ns:
                pair.stale = True
                source = pair.feed
                if source is not None:
                    pair.health_before = source.health
                    source.health = FeedHealth.STALE
                log.error("feed %s %s is stale: nothing for %.3f s", feed, symbol, silent / 1e9)
                changes.append(StaleChange(feed, symbol, True, silent, now))
        for change in changes:
            self._notify(change)
        return changes

    def is_stale(self, feed: str, symbol: str) -> bool:
        pair = self._pairs.get((feed, symbol))
        return pair is not None and pair.stale

    def stale_symbols(self) -> set[str]:
        """Symbols with at least one stale feed (what the risk gate should refuse)."""
        return {symbol for (_, symbol), pair in self._pairs.items() if pair.stale}

    @property
    def stale_count(self) -> int:
        """Pairs stale now: the gauge the service exports."""
        return sum(1 for pair in self._pairs.values() if pair.stale)

    def _notify(self, change: StaleChange) -> None:
        self.transitions += 1
        try:
            self.on_change(change)
        except Exception:
            self.callback_errors += 1
            log.exception("staleness callback failed for %s %s", change.feed, change.symbol)

    async def watch(self, name: str, feed: Feed) -> AsyncIterator[MarketData]:
        """``feed``'s messages, touching (name, symbol) for each."""
        self.register(name, feed.symbol, feed)
        async for message in feed:
            self.touch(name, message.symbol)
            yield message

    async def run(self, interval_seconds: float | None = None) -> None:
        """Check forever, by default four times per timeout."""
        interval = interval_seconds if interval_seconds is not None else self.timeout_ns / 4e9
        while True:
            await asyncio.sleep(interval)
            self.check()
