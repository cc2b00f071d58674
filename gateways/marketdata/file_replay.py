"""File replay feeds: LOBSTER samples and Binance captures as a live-looking Feed.

Why: backtest equals live (docs/architecture.md). The engine consumes a recorded day through
the same Feed interface as the websocket or Redis feed, paced in real time (``speed=1``),
accelerated (event-time gaps divided by ``speed``) or as fast as possible (``speed=0``). Pacing
uses an injectable monotonic clock and sleep so tests never wait on the wall clock.

LOBSTER: the order-book file holds the visible book after each message, so the first row becomes
a snapshot and every later row the levels that changed since the row before (a level that left
the visible depth gets quantity 0); visible and hidden executions become trades whose aggressor
is the opposite of the resting side LOBSTER records. Binance captures go through
:class:`sim.binance.BinanceCapture` (its sequence checks); bookTicker messages are not book
updates and are skipped; a sequence gap makes the feed RESYNCING until the capture's next
snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from core.domain import BookUpdate, MarketData, Side, Trade
from gateways.marketdata.feed import Feed, FeedCounters, FeedHealth
from sim.binance import BinanceCapture, BookTicker, SequenceGap
from sim.lobster import BookRow, EventType, LobsterSample

_TRADES = frozenset({EventType.EXECUTE_VISIBLE, EventType.EXECUTE_HIDDEN})
YIELD_EVERY = 256  # at speed 0, let other tasks run this often


def _levels(symbol: str, side: Side, old: Iterable[tuple[int, int]],
            new: Iterable[tuple[int, int]], ts_ns: int) -> list[BookUpdate]:
    before, after = dict(old), dict(new)
    updates = [BookUpdate(symbol, side, price, qty, ts_ns)
               for price, qty in after.items() if before.get(price) != qty]
    updates += [BookUpdate(symbol, side, price, 0, ts_ns)
                for price in before if price not in after]
    return updates


def lobster_market_data(sample: LobsterSample, tick_size: Decimal = Decimal("0.01"),
                        utc_offset_hours: int = -4) -> Iterator[MarketData | SequenceGap]:
    """A LOBSTER sample as MarketData: a snapshot, then one message per row that changed the
    visible book or traded (rows that did neither, such as halts, are left out)."""
    symbol = sample.ticker
    previous: BookRow | None = None
    for message, row in sample.events(tick_size, utc_offset_hours):
        ts = message.ts_ns
        if previous is None:
            updates = [BookUpdate(symbol, Side.BUY, p, q, ts) for p, q in row.bids]
            updates += [BookUpdate(symbol, Side.SELL, p, q, ts) for p, q in row.asks]
            yield MarketData(symbol, ts, tuple(updates), (), snapshot=True)
            previous = row
            continue
        updates = _levels(symbol, Side.BUY, previous.bids, row.bids, ts)
        updates += _levels(symbol, Side.SELL, previous.asks, row.asks, ts)
        previous = row
        trades: tuple[Trade, ...] = ()
        if message.event in _TRADES and message.qty > 0:
            trades = (Trade(symbol, message.price, message.qty, message.side.opposite, ts),)
        if updates or trades:
            yield MarketData(symbol, ts, tuple(updates), trades)


def binance_market_data(capture: BinanceCapture) -> Iterator[MarketData | SequenceGap]:
    """A Binance capture's book messages and gaps (bookTickers left out)."""
    for event in capture.events():
        if not isinstance(event, BookTicker):
            yield event


class FileReplayFeed(Feed):
    """Replays recorded MarketData of one symbol, paced by event time.

    ``speed``: 1 is real time, 10 ten times faster, 0 as fast as possible. A message is due
    at ``start + (ts - first_ts) / speed`` on the monotonic clock, so a slow consumer catches
    up instead of drifting; timestamps that go backwards are not waited for."""

    def __init__(self, symbol: str, source: Callable[[], Iterable[MarketData | SequenceGap]],
                 speed: float = 1.0, *,
                 monotonic_ns: Callable[[], int] = time.monotonic_ns,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if speed < 0:
            raise ValueError(f"replay speed must be 0 (flat out) or positive, got {speed}")
        self.symbol = symbol
        self.speed = speed
        self.health = FeedHealth.CONNECTING
        self.counters = FeedCounters()
        self._source = source
        self._monotonic_ns = monotonic_ns
        self._sleep = sleep
        self._closed = False

    @classmethod
    def lobster(cls, sample: LobsterSample, speed: float = 1.0,
                tick_size: Decimal = Decimal("0.01"), utc_offset_hours: int = -4,
                **kwargs: object) -> FileReplayFeed:
        return cls(sample.ticker, lambda: lobster_market_data(sample, tick_size,
                                                              utc_offset_hours),
                   speed, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def binance(cls, paths: list[Path], symbol: str = "BTCUSDT", speed: float = 1.0,
                tick_size: Decimal = Decimal("0.01"), lot_size: Decimal = Decimal("0.000001"),
                **kwargs: object) -> FileReplayFeed:
        return cls(symbol, lambda: binance_market_data(
            BinanceCapture(paths, symbol, tick_size, lot_size)), speed,
            **kwargs)  # type: ignore[arg-type]

    def __aiter__(self) -> AsyncIterator[MarketData]:
        return self._run()

    async def close(self) -> None:
        self._closed = True

    async def _run(self) -> AsyncIterator[MarketData]:
        start_ns: int | None = None
        first_ts = 0
        synced = seen_snapshot = False
        try:
            for event in self._source():
                if self._closed:
                    break
                self.counters.messages += 1
                if isinstance(event, SequenceGap):
                    self.counters.gaps += 1
                    synced = False
                    self.health = FeedHealth.RESYNCING
                    continue
                if event.snapshot:
                    if seen_snapshot:
                        self.counters.resyncs += 1
                    seen_snapshot = synced = True
                    self.health = FeedHealth.LIVE
                elif not synced:
                    self.health = FeedHealth.RESYNCING
                if self.speed > 0:
                    if start_ns is None:
                        start_ns, first_ts = self._monotonic_ns(), event.ts_ns
                    due = start_ns + (event.ts_ns - first_ts) / self.speed
                    wait = (due - self._monotonic_ns()) / 1e9
                    if wait > 0:
                        await self._sleep(wait)
                elif self.counters.messages % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                yield event
        finally:
            self.health = FeedHealth.STOPPED
