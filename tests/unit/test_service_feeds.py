"""Feeds wired into the engine (service/feeds.py): a feed that is not live stops new orders on its
symbol and a recovered one lets them out again; a burst of messages reaches the book whole while
the policy decides on the latest state; the queue stays bounded. The real engine, risk overlay,
OMS and metrics; the staleness clock is injected, so nothing waits on the wall clock."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from core.depth_book import DepthBook
from core.domain import (
    BookUpdate,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    ParentOrder,
    ReplaceOrder,
    Side,
    Trade,
)
from models.actions import Action, ActionKind
from models.policy import DecisionContext
from risk.verdict import DenyReason
from service.engine import Engine
from service.feeds import ServiceFeeds
from service.metrics import LatencyBuckets, Metrics
from service.state.store import MemoryStore
from tests.support.feeds import ScriptedFeed, settle
from tests.support.risk import SECOND, make_overlay, roomy
from tests.support.sending import RecordingSender

GOOG, OTHER = "GOOG", "OTHER"
FEED = "scripted:GOOG"


class Clock:
    def __init__(self) -> None:
        self.now = 100 * SECOND

    def __call__(self) -> int:
        return self.now


class RestAtTouch:
    """Always wants 100 resting at the near touch; remembers the best ask it decided on."""

    name = "rest"

    def __init__(self) -> None:
        self.asks_seen: list[int | None] = []

    def act(self, ctx: DecisionContext) -> Action:
        self.asks_seen.append(ctx.book.best_ask())
        return Action(ActionKind.REST_NEAR, 100)


def quote(ts_s: float, bid: int, ask: int, snapshot: bool = False,
          symbol: str = GOOG) -> MarketData:
    ts = int(ts_s * SECOND)
    return MarketData(symbol, ts, (BookUpdate(symbol, Side.BUY, bid, 500, ts),
                                   BookUpdate(symbol, Side.SELL, ask, 500, ts)), (), snapshot)


def ask_moves(ts_s: float, old: int, new: int) -> MarketData:
    """The best ask leaves ``old`` for ``new``."""
    ts = int(ts_s * SECOND)
    return MarketData(GOOG, ts, (BookUpdate(GOOG, Side.SELL, old, 0, ts),
                                 BookUpdate(GOOG, Side.SELL, new, 500, ts)))


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _engine(symbols: tuple[str, ...] = (GOOG,)) \
        -> tuple[Engine, RecordingSender, RestAtTouch, Metrics]:
    metrics, sender, policy = Metrics(), RecordingSender(), RestAtTouch()
    instruments = {s: Instrument(s, Decimal("0.01")) for s in symbols}
    engine = Engine(instruments, make_overlay(roomy()), sender, MemoryStore(), metrics)
    engine.submit(ParentOrder("P", GOOG, Side.SELL, 1000, 0, 600 * SECOND, "rest"), policy)
    return engine, sender, policy, metrics


async def test_a_stale_feed_stops_new_orders_on_its_symbol_and_recovery_resumes_them() -> None:
    engine, sender, _policy, metrics = _engine()
    risk = engine.risk
    clock, feed = Clock(), ScriptedFeed(GOOG)
    feeds = ServiceFeeds({FEED: feed}, risk, metrics, [GOOG], stale_seconds=2.0, clock_ns=clock)
    # Nothing has arrived yet: the symbol starts stopped.
    assert GOOG in risk.stopped_symbols()
    assert sample(metrics, "execagent_symbol_stopped", symbol=GOOG) == 1.0
    await feeds.start(engine.handle)
    try:
        feed.health = feed.health.LIVE
        feed.push(quote(1, 57_999, 58_001, snapshot=True))
        await settle()
        assert GOOG not in risk.stopped_symbols()
        order = sender.sent[0]
        assert len(sender.sent) == 1 and isinstance(order, NewOrder) and order.price == 58_001
        engine.handle(ExecutionReport(order.cl_ord_id, "E1", ExecType.NEW, OrdStatus.NEW, GOOG,
                                      Side.SELL, 0, 100), 0)

        clock.now += 2 * SECOND + 1  # silent past the timeout
        feeds.check()
        assert feeds.watchdog.is_stale(FEED, GOOG) and feed.health is feed.health.STALE
        assert GOOG in risk.stopped_symbols()
        assert sample(metrics, "execagent_feed_stale", feed=FEED) == 1.0
        assert sample(metrics, "execagent_symbol_stopped", symbol=GOOG) == 1.0
        verdict = risk.check(NewOrder("X1", "", GOOG, Side.SELL, 10, 58_001), engine.clock.now_ns())
        assert verdict.reason is DenyReason.FEED_NOT_LIVE
        # A stop, not a kill: nothing cancelled, trading state untouched.
        assert len(sender.sent) == 1 and risk.state.value == "active"

        feed.push(ask_moves(2, 58_001, 58_003))  # proof of life: the ask moved up two ticks
        await settle()
        assert not feeds.watchdog.is_stale(FEED, GOOG) and GOOG not in risk.stopped_symbols()
        assert sample(metrics, "execagent_feed_stale", feed=FEED) == 0.0
        assert sample(metrics, "execagent_symbol_stopped", symbol=GOOG) == 0.0
        replace = sender.sent[-1]
        assert isinstance(replace, ReplaceOrder) and replace.price == 58_003
    finally:
        await feeds.stop()


async def test_a_resyncing_feed_denies_the_tick_and_a_live_one_lets_it_out() -> None:
    engine, sender, _policy, metrics = _engine()
    feed = ScriptedFeed(GOOG)
    feeds = ServiceFeeds({FEED: feed}, engine.risk, metrics, [GOOG], clock_ns=Clock())
    await feeds.start(engine.handle)
    try:
        feed.health = feed.health.LIVE
        feed.push(quote(1, 57_999, 58_001, snapshot=True))
        await settle()
        order = sender.sent[0]
        engine.handle(ExecutionReport(order.cl_ord_id, "E1", ExecType.NEW, OrdStatus.NEW, GOOG,
                                      Side.SELL, 0, 100), 0)
        feed.health = feed.health.RESYNCING  # e.g. a gap: trades still flow, levels are doubted
        feed.push(ask_moves(2, 58_001, 58_003))
        await settle()
        assert len(sender.sent) == 1  # the replace the tick wanted was denied
        assert engine.risk.denials == {DenyReason.FEED_NOT_LIVE: 1}
        feed.health = feed.health.LIVE
        feed.push(quote(3, 57_999, 58_003))
        await settle()
        assert isinstance(sender.sent[-1], ReplaceOrder) and sender.sent[-1].price == 58_003
    finally:
        await feeds.stop()


async def test_a_burst_reaches_the_book_whole_and_the_policy_decides_on_the_latest_state() \
        -> None:
    engine, _sender, policy, metrics = _engine()
    feed = ScriptedFeed(GOOG)
    feeds = ServiceFeeds({FEED: feed}, engine.risk, metrics, [GOOG], clock_ns=Clock())
    feed.health = feed.health.LIVE
    burst = [quote(1, 57_000, 59_000, snapshot=True)]
    reference = DepthBook(GOOG)
    for n in range(1, 300):  # asks walk down, bids up, trades print: every level matters
        ts = int((1 + n / 1000) * SECOND)
        burst.append(MarketData(GOOG, ts, (BookUpdate(GOOG, Side.BUY, 57_000 + n, n, ts),
                                           BookUpdate(GOOG, Side.SELL, 59_000 - n, n, ts)),
                                (Trade(GOOG, 59_000 - n, 1, Side.BUY, ts),)))
    for message in burst:
        reference.apply_market_data(message)
    feed.push(*burst)  # all waiting before the engine gets the loop: it falls behind at once
    await feeds.start(engine.handle)
    try:
        await settle()
        book = engine.books[GOOG]
        for side in Side:
            assert book.depth(side, 1000) == reference.depth(side, 1000)
        assert feeds.queue.received == len(burst)
        # Far fewer decisions than messages, and the last one saw the final book.
        assert 1 <= len(policy.asks_seen) < len(burst) // 10
        assert policy.asks_seen[-1] == reference.best_ask() == 58_701
        assert sample(metrics, "execagent_feed_conflated_messages_total") == \
            len(burst) - len(policy.asks_seen)
        # Every trade reached the engine: the parent counted all the market volume.
        assert engine._by_parent["P"].market_volume == len(burst) - 1  # noqa: SLF001
    finally:
        await feeds.stop()


async def test_the_queue_stays_bounded_with_many_symbols_behind_a_slow_engine() -> None:
    symbols = tuple(f"S{i}" for i in range(6))
    engine, _sender, _policy, metrics = _engine((GOOG, *symbols))
    scripted = {f"scripted:{s}": ScriptedFeed(s) for s in symbols}
    feeds = ServiceFeeds(scripted, engine.risk, metrics, list(symbols), queue_max_depth=3,
                         clock_ns=Clock())
    references = {s: DepthBook(s) for s in symbols}
    for n in range(200):  # interleaved, so consecutive messages never share a symbol
        for symbol in symbols:
            message = quote(1 + n / 1000, 1_000 + n, 2_000 - n, snapshot=n == 0, symbol=symbol)
            references[symbol].apply_market_data(message)
            scripted[f"scripted:{symbol}"].push(message)
    await feeds.start(engine.handle)
    try:
        await settle(200)
        assert feeds.queue.received == 200 * len(symbols)
        assert feeds.queue.max_seen_depth <= 3 + len(symbols)
        assert feeds.queue.depth == 0 and sample(metrics, "execagent_feed_queue_depth") == 0.0
        for symbol in symbols:
            for side in Side:
                assert engine.books[symbol].depth(side, 10) == \
                    references[symbol].depth(side, 10)
    finally:
        await feeds.stop()


async def test_feed_counters_and_health_are_exported_per_feed() -> None:
    engine, _sender, _policy, metrics = _engine()
    feed = ScriptedFeed(GOOG)
    feeds = ServiceFeeds({FEED: feed}, engine.risk, metrics, [GOOG], clock_ns=Clock())
    feed.counters.gaps, feed.counters.resyncs, feed.counters.malformed = 2, 3, 5
    feed.health = feed.health.RESYNCING
    await feeds.start(engine.handle)
    try:
        feed.push(quote(1, 57_999, 58_001, snapshot=True))
        await settle()
        assert sample(metrics, "execagent_feed_messages_total", feed=FEED) == 1.0
        assert sample(metrics, "execagent_feed_gaps_total", feed=FEED) == 2.0
        assert sample(metrics, "execagent_feed_resyncs_total", feed=FEED) == 3.0
        assert sample(metrics, "execagent_feed_malformed_total", feed=FEED) == 5.0
        assert sample(metrics, "execagent_feed_health", feed=FEED, health="resyncing") == 1.0
        assert sample(metrics, "execagent_feed_health", feed=FEED, health="live") == 0.0
        assert sample(metrics, "execagent_feed_latency_seconds_count", feed=FEED) == 0.0
    finally:
        await feeds.stop()
    assert feed.health is feed.health.STOPPED
    assert GOOG in engine.risk.stopped_symbols()  # an ended feed stops its symbol


@pytest.mark.parametrize("measured", [True, False])
async def test_latency_is_observed_only_for_live_sources(measured: bool) -> None:
    engine, _sender, _policy, metrics = _engine()
    feed = ScriptedFeed(GOOG)
    feeds = ServiceFeeds({FEED: feed}, engine.risk, metrics, [GOOG], clock_ns=Clock(),
                         measure_latency=frozenset({FEED}) if measured else frozenset())
    await feeds.start(engine.handle)
    try:
        feed.push(quote(1, 57_999, 58_001, snapshot=True))  # event time 1970: a huge "latency"
        await settle()
        count = sample(metrics, "execagent_feed_latency_seconds_count", feed=FEED)
        assert count == (1.0 if measured else 0.0)
    finally:
        await feeds.stop()


def test_latency_buckets_export_as_a_prometheus_histogram() -> None:
    metrics = Metrics()
    buckets = LatencyBuckets((0.001, 0.01))
    metrics.watch_feeds({}, {FEED: buckets}, lambda _: False, lambda _: False, [], lambda: 0,
                        lambda: 0)
    for seconds in (0.0005, 0.001, 0.002, 5.0):  # a value on a bound belongs to it (le)
        buckets.observe(seconds)
    le = {bound: sample(metrics, "execagent_feed_latency_seconds_bucket", feed=FEED, le=bound)
          for bound in ("0.001", "0.01", "+Inf")}
    assert le == {"0.001": 2.0, "0.01": 3.0, "+Inf": 4.0}
    assert sample(metrics, "execagent_feed_latency_seconds_count", feed=FEED) == 4.0
    assert sample(metrics, "execagent_feed_latency_seconds_sum", feed=FEED) == 5.0035


class BrokenFeed(ScriptedFeed):
    """Yields what was pushed, then fails the way a bug in an adapter would."""

    async def _run(self) -> AsyncIterator[MarketData]:
        while not self._queue.empty():
            message = self._queue.get_nowait()
            if message is not None:
                yield message
        raise RuntimeError("adapter bug")


async def test_a_failing_feed_stops_its_symbol_and_the_others_go_on() -> None:
    engine, _sender, _policy, metrics = _engine((GOOG, OTHER))
    broken, healthy = BrokenFeed(GOOG), ScriptedFeed(OTHER)
    feeds = ServiceFeeds({FEED: broken, "scripted:OTHER": healthy}, engine.risk, metrics,
                         [GOOG, OTHER], clock_ns=Clock())
    broken.health = healthy.health = broken.health.LIVE
    broken.push(quote(1, 57_999, 58_001, snapshot=True))
    await feeds.start(engine.handle)
    try:
        await settle()
        assert broken.health is broken.health.STOPPED and feeds.stopped(GOOG)
        assert engine.books[GOOG].best_ask() == 58_001  # what came before the failure counts
        healthy.push(quote(2, 999, 1_001, snapshot=True, symbol=OTHER))
        await settle()
        assert engine.books[OTHER].best_ask() == 1_001 and not feeds.stopped(OTHER)
    finally:
        await feeds.stop()


async def test_the_stop_follows_every_change_of_health_as_it_happens() -> None:
    engine, _sender, _policy, metrics = _engine()
    feed = ScriptedFeed(GOOG)
    feeds = ServiceFeeds({FEED: feed}, engine.risk, metrics, [GOOG], clock_ns=Clock())
    await feeds.start(engine.handle)
    try:
        feed.health = feed.health.LIVE
        feed.push(quote(1, 57_999, 58_001, snapshot=True))
        await settle()
        assert not feeds.stopped(GOOG)
        # The connection drops between two snapshots: no message comes with the change, and
        # no supervision round runs, yet the stop and its metric follow at once.
        feed.health = feed.health.CONNECTING
        assert feeds.stopped(GOOG) and GOOG in engine.risk.stopped_symbols()
        assert sample(metrics, "execagent_symbol_stopped", symbol=GOOG) == 1.0
        assert sample(metrics, "execagent_feed_health", feed=FEED, health="connecting") == 1.0
        feed.health = feed.health.LIVE
        assert not feeds.stopped(GOOG)
    finally:
        await feeds.stop()


async def test_stopping_the_service_stops_its_symbols_without_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    engine, _sender, _policy, metrics = _engine()
    feed = ScriptedFeed(GOOG)
    feeds = ServiceFeeds({FEED: feed}, engine.risk, metrics, [GOOG], clock_ns=Clock())
    await feeds.start(engine.handle)
    feed.health = feed.health.LIVE
    feed.push(quote(1, 57_999, 58_001, snapshot=True))
    await settle()
    with caplog.at_level(logging.INFO, logger="execagent"):
        await feeds.stop()
    assert feeds.stopped(GOOG)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "new orders on GOOG stopped: feed scripted:GOOG is stopped" in caplog.text  # at INFO
