"""The websocket feed against the test exchange on loopback, replaying the real BTCUSDT capture.

The truth each check uses is independent of the feed: the capture's own bookTicker messages
(best bid/ask at an update id, straight from Binance). Whenever the book a consumer builds from
the feed's MarketData stands at exactly the update id of one of those tickers, its best bid and
ask must equal the ticker's. Faults are injected by the exchange; after each the feed must
resync and the same check must hold again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.depth_book import DepthBook
from core.domain import Instrument
from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed
from gateways.marketdata.feed import FeedHealth
from gateways.venue.binance_exchange import BinanceTestExchange, ExchangeConfig
from sim.binance import BinanceCapture, BookTicker

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DAY1 = SHARED / "binance_spot_btcusdt_20240808.gz"
pytestmark = pytest.mark.skipif(not DAY1.exists(), reason=f"shared market data not at {DAY1}")

BTCUSDT = Instrument("BTCUSDT", Decimal("0.01"), Decimal("0.000001"))
MESSAGES = 6_000  # a bounded stretch of the capture keeps each test to a few seconds
# Replayed 20x faster than captured: flat out, the exchange would run thousands of messages
# ahead of the client (aiohttp buffers them), so that the first snapshot would be far beyond the
# stretch this test reads. The checks hold at any speed; the speed decides how much is checked.
SPEED = 20.0


@pytest.fixture(scope="module")
def tickers() -> dict[int, tuple[int, int]]:
    """Best (bid, ask) by update id, from the capture's bookTicker messages."""
    return {e.update_id: (e.bid, e.ask) for e in BinanceCapture([DAY1]).events()
            if isinstance(e, BookTicker)}


@dataclass
class Outcome:
    feed: BinanceWsFeed
    exchange: BinanceTestExchange
    compared: int = 0  # comparisons with a capture bookTicker, all equal
    compared_after_recovery: int = 0  # of those, after the last resync or reconnect
    snapshots: int = 0
    mismatches: list[Any] = field(default_factory=list)


async def _replay(tickers: dict[int, tuple[int, int]], messages: int = MESSAGES,
                  **faults: int) -> Outcome:
    config = ExchangeConfig([DAY1], speed=SPEED)
    for fault, every in faults.items():
        setattr(config, fault, every)
    exchange = BinanceTestExchange(config)
    await exchange.start()
    feed = BinanceWsFeed(BinanceWsConfig(exchange.url, exchange.url.replace("http", "ws"),
                                         BTCUSDT, backoff_initial_s=0.01))
    outcome = Outcome(feed, exchange)
    book = DepthBook("BTCUSDT")
    try:
        async for event in feed:
            book.apply_market_data(event)
            if event.snapshot:
                outcome.snapshots += 1
                outcome.compared_after_recovery = 0
            if event.updates and feed.last_update_id in tickers:
                expected = tickers[feed.last_update_id]
                actual = (book.best_bid(), book.best_ask())
                if actual != expected:
                    outcome.mismatches.append((feed.last_update_id, expected, actual))
                outcome.compared += 1
                outcome.compared_after_recovery += 1
            if feed.counters.messages >= messages:
                break
    finally:
        await feed.close()
        await exchange.stop()
    assert feed.health is FeedHealth.STOPPED
    return outcome


async def test_the_feed_book_matches_every_capture_book_ticker_it_reaches(
        tickers: dict[int, tuple[int, int]]) -> None:
    outcome = await _replay(tickers)
    counters = outcome.feed.counters
    assert outcome.mismatches == []
    assert outcome.compared > 50
    assert outcome.snapshots == 1
    assert (counters.gaps, counters.resyncs, counters.malformed, counters.invalid_book) == \
        (0, 0, 0, 0)


async def test_a_lost_diff_is_a_gap_that_resyncs_to_a_correct_book(
        tickers: dict[int, tuple[int, int]]) -> None:
    outcome = await _replay(tickers, gap_every=100)
    counters = outcome.feed.counters
    assert outcome.exchange.stats.gaps >= 2
    assert counters.gaps >= 2 and counters.resyncs == counters.gaps
    # Recognised as gaps when they happen, not later as a crossed or disagreeing book.
    assert counters.invalid_book == 0
    assert outcome.snapshots == counters.resyncs + 1
    assert outcome.mismatches == []
    assert outcome.compared_after_recovery > 0


async def test_a_disconnect_reconnects_and_rebuilds_a_correct_book(
        tickers: dict[int, tuple[int, int]]) -> None:
    outcome = await _replay(tickers, disconnect_after=1_500)
    counters = outcome.feed.counters
    assert outcome.exchange.stats.disconnects >= 2
    assert counters.reconnects >= 2 and counters.invalid_book == 0
    assert outcome.snapshots == counters.reconnects + 1 + counters.resyncs
    assert outcome.mismatches == []
    assert outcome.compared_after_recovery > 0


async def test_duplicates_are_dropped_and_reordering_resyncs(
        tickers: dict[int, tuple[int, int]]) -> None:
    duplicated = await _replay(tickers, duplicate_every=50)
    assert duplicated.exchange.stats.duplicates >= 10
    assert duplicated.feed.counters.duplicates >= duplicated.exchange.stats.duplicates - 1
    assert duplicated.feed.counters.resyncs == 0 and duplicated.mismatches == []

    reordered = await _replay(tickers, reorder_every=150)
    assert reordered.exchange.stats.reorders >= 2
    assert reordered.feed.counters.gaps >= 2 and reordered.feed.counters.resyncs >= 2
    assert reordered.feed.counters.invalid_book == 0
    assert reordered.mismatches == [] and reordered.compared_after_recovery > 0


async def test_malformed_messages_are_counted_and_do_not_touch_the_book(
        tickers: dict[int, tuple[int, int]]) -> None:
    outcome = await _replay(tickers, malformed_every=25)
    counters = outcome.feed.counters
    injected = outcome.exchange.stats.malformed
    # Every injected message the feed read was counted; the server may have sent a few more.
    assert 100 <= counters.malformed <= injected
    assert counters.gaps == counters.resyncs == counters.invalid_book == 0
    assert outcome.mismatches == [] and outcome.compared > 50
