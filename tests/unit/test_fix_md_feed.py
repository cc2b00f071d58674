"""FIX market data as a Feed (gateways/marketdata/fix_feed.py): a symbol's book is passed on only
from its snapshot on; an incremental that crosses the book, or a lost session, makes the feed not
live (its symbol stopped through service/feeds.py) until the next snapshot; nothing goes through
the conflating queue (the session's order is kept). The real engine, risk overlay and metrics."""

from __future__ import annotations

from decimal import Decimal

from core.domain import BookUpdate, Instrument, MarketData, Side, Trade
from gateways.marketdata.feed import FeedHealth
from gateways.marketdata.fix_feed import FixMarketData
from service.engine import Engine
from service.feeds import ServiceFeeds
from service.metrics import Metrics
from service.state.store import MemoryStore
from tests.support.risk import SECOND, make_overlay, roomy
from tests.support.sending import RecordingSender

GOOG = "GOOG"
FEED = "fix:GOOG"


def quote(bid: int, ask: int, snapshot: bool = False, trade: int | None = None) -> MarketData:
    ts = SECOND
    trades = (Trade(GOOG, trade, 10, None, ts),) if trade is not None else ()
    return MarketData(GOOG, ts, (BookUpdate(GOOG, Side.BUY, bid, 500, ts),
                                 BookUpdate(GOOG, Side.SELL, ask, 500, ts)), trades, snapshot)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_fix_market_data_is_a_feed_with_health_a_gate_and_metrics() -> None:
    metrics, sender = Metrics(), RecordingSender()
    engine = Engine({GOOG: Instrument(GOOG, Decimal("0.01"))}, make_overlay(roomy()), sender,
                    MemoryStore(), metrics)
    fix = FixMarketData([GOOG])
    feed = fix.feeds[GOOG]
    feeds = ServiceFeeds({FEED: feed}, engine.risk, metrics, [GOOG], stale_seconds=2.0)
    fix.on_passed = feeds.passed  # as ServiceFeeds.from_config wires it
    handled: list[MarketData] = []

    def deliver(message: MarketData) -> None:
        """What the service's FIX sink does (service/app.py): judged (and reported to the
        feeds), then handled."""
        passed = fix.deliver(message)
        if passed is not None:
            handled.append(passed)
            engine.handle(passed, 0)

    await feeds.start(lambda message, received_ns: None)  # nothing is pumped: FIX is inline
    try:
        book = engine.books[GOOG]
        # Before the snapshot the book is unknown: levels withheld, trades passed on.
        deliver(quote(57_999, 58_001, trade=58_000))
        assert feed.health is FeedHealth.CONNECTING and GOOG in engine.risk.stopped_symbols()
        assert [m.updates for m in handled] == [()] and feed.withheld == 2
        assert book.best_bid() is None

        deliver(quote(57_999, 58_001, snapshot=True))
        assert feed.health is FeedHealth.LIVE and GOOG not in engine.risk.stopped_symbols()
        assert (book.best_bid(), book.best_ask()) == (57_999, 58_001)

        # An incremental that crosses the book is never passed on as truth.
        deliver(quote(58_005, 58_006))
        feeds.check()  # nothing was passed on: the supervisor's round sees the health
        assert feed.health is FeedHealth.RESYNCING and GOOG in engine.risk.stopped_symbols()
        assert (book.best_bid(), book.best_ask()) == (57_999, 58_001)
        assert feed.counters.invalid_book == 1
        deliver(quote(58_000, 58_002))  # still in doubt until a snapshot
        assert feed.health is FeedHealth.RESYNCING and book.best_bid() == 57_999

        deliver(quote(58_000, 58_002, snapshot=True))
        assert feed.health is FeedHealth.LIVE and GOOG not in engine.risk.stopped_symbols()
        assert (book.best_bid(), book.best_ask()) == (58_000, 58_002)

        # A lost session: the venue forgets the subscription; wait for the next snapshot.
        fix.session(False)
        feeds.check()
        assert feed.health is FeedHealth.CONNECTING and GOOG in engine.risk.stopped_symbols()
        fix.session(True)
        deliver(quote(58_000, 58_002, snapshot=True))
        assert feed.health is FeedHealth.LIVE and GOOG not in engine.risk.stopped_symbols()

        assert feed.counters.messages == 6 and feed.counters.reconnects == 1
        assert sample(metrics, "execagent_feed_messages_total", feed=FEED) == 6.0
        assert sample(metrics, "execagent_feed_invalid_book_total", feed=FEED) == 1.0
        assert sample(metrics, "execagent_feed_health", feed=FEED, health="live") == 1.0
        assert feeds.queue.depth == 0  # never through the conflating queue
    finally:
        await feeds.stop()
    assert feed.health is FeedHealth.STOPPED


def test_market_data_for_a_symbol_not_on_fix_is_dropped_and_counted() -> None:
    fix = FixMarketData([GOOG])
    assert fix.deliver(MarketData("AAPL", 1, (BookUpdate("AAPL", Side.BUY, 1, 1, 1),))) is None
    assert fix.unrouted == 1 and fix.feeds[GOOG].counters.messages == 0
