"""The engine behind its queue: what waits together is handled together, every event in the
session's order, and each symbol is decided on its newest tick (``Engine.handle_batch``).

Why it matters: FIX market data reaches the engine's queue unconflated (it shares the session
with the execution reports, whose order against it means something), so when ticks come faster
than decisions, deciding on each would make every decision later than the last. These tests
pin what superseding may and may not change: the books, the market statistics and the parents'
market volume are exactly those of handling every tick alone; only the decisions on ticks that
already had a newer tick of their symbol waiting are skipped."""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import (
    BookUpdate,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    OrdStatus,
    ParentOrder,
    Side,
    Trade,
)
from models.actions import WAIT, Action, ActionKind
from models.policy import DecisionContext
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from tests.support.risk import roomy
from tests.support.sending import RecordingSender

SYMBOLS = ("GOOG", "AAPL")
SECOND = 10**9
START_NS = 1_700_000_000 * SECOND


class _RecordingPolicy:
    """Remembers what it was asked to decide on (event time, best bid, market volume); waits,
    or crosses once when told to."""

    name = "recording"

    def __init__(self, cross_at_ns: int | None = None) -> None:
        self.seen: list[tuple[int, int | None, int]] = []
        self.cross_at_ns = cross_at_ns

    def act(self, ctx: DecisionContext) -> Action:
        self.seen.append((ctx.now_ns, ctx.book.best_bid(), ctx.market_volume))
        if ctx.now_ns == self.cross_at_ns:
            return Action(ActionKind.CROSS, 100)
        return WAIT


def _engine() -> tuple[Engine, RecordingSender]:
    sender = RecordingSender()
    instruments = {symbol: Instrument(symbol, Decimal("0.01")) for symbol in SYMBOLS}
    limits = roomy()
    limits["symbols"] = {symbol: dict(limits["symbols"]["GOOG"]) for symbol in SYMBOLS}
    limits["global"]["restricted_symbols"] = []
    engine = Engine(instruments, RiskOverlay(parse_limits(limits), instruments), sender,
                    MemoryStore(), Metrics())
    return engine, sender


def _work(engine: Engine, symbol: str, policy: _RecordingPolicy) -> None:
    engine.submit(ParentOrder(f"P-{symbol}", symbol, Side.SELL, 10_000, START_NS,
                              START_NS + 3_600 * SECOND, policy.name), policy)


def _tick(symbol: str, ms: int, bid: int, trade_qty: int = 0,
          snapshot: bool = False) -> MarketData:
    ts = START_NS + ms * 1_000_000
    updates = (BookUpdate(symbol, Side.BUY, bid, 100 + ms, ts),
               BookUpdate(symbol, Side.SELL, bid + 2, 200, ts))
    trades = (Trade(symbol, bid, trade_qty, Side.SELL, ts),) if trade_qty else ()
    return MarketData(symbol, ts, updates, trades, snapshot)


def _report_for_nothing(ms: int) -> ExecutionReport:
    """A report for an order the engine never sent: handled (counted, ignored) between ticks."""
    return ExecutionReport("UNKNOWN-1", f"E{ms}", ExecType.NEW, OrdStatus.NEW, "GOOG", Side.SELL,
                           0, 0)


def _ms(ns: int) -> int:
    return (ns - START_NS) // 1_000_000


def test_a_backlog_is_decided_once_per_symbol_on_its_newest_tick() -> None:
    engine, _ = _engine()
    goog, aapl = _RecordingPolicy(), _RecordingPolicy()
    _work(engine, "GOOG", goog)
    _work(engine, "AAPL", aapl)
    now = time.perf_counter_ns()
    batch: list[tuple[object, int]] = [
        (_tick("GOOG", 1, 5000, snapshot=True), now), (_tick("AAPL", 2, 9000, snapshot=True), now),
        (_tick("GOOG", 3, 5001, trade_qty=30), now), (_report_for_nothing(4), now),
        (_tick("GOOG", 5, 5002, trade_qty=12), now), (_tick("AAPL", 6, 9003), now)]
    engine.handle_batch(batch)
    # One decision each, on the state every tick built: the newest bid, all traded volume.
    assert [(_ms(t), bid, volume) for t, bid, volume in goog.seen] == [(5, 5002, 42)]
    assert [(_ms(t), bid, volume) for t, bid, volume in aapl.seen] == [(6, 9003, 0)]
    assert engine.metrics.ticks.labels("GOOG").value == 3
    assert engine.metrics.ticks_superseded.labels("GOOG").value == 2
    assert engine.metrics.ticks_superseded.labels("AAPL").value == 1
    assert engine.books["GOOG"].qty_at(Side.BUY, 5000) == 101  # every tick applied
    assert engine.books["GOOG"].qty_at(Side.BUY, 5002) == 105
    assert engine.metrics.execution_reports.labels("new")._value.get() == 1  # noqa: SLF001
    assert engine.errors == 0


def test_ticks_handled_alone_are_each_decided() -> None:
    engine, _ = _engine()
    policy = _RecordingPolicy()
    _work(engine, "GOOG", policy)
    for ms in (1, 2, 3):
        engine.handle_batch([(_tick("GOOG", ms, 5000 + ms, snapshot=ms == 1),
                              time.perf_counter_ns())])
    assert [_ms(t) for t, _, _ in policy.seen] == [1, 2, 3]
    assert engine.metrics.ticks_superseded.labels("GOOG").value == 0


def test_the_decision_on_a_backlog_counts_its_latency_from_the_first_tick_waiting() -> None:
    engine, sender = _engine()
    policy = _RecordingPolicy(cross_at_ns=START_NS + 3 * 1_000_000)
    _work(engine, "GOOG", policy)
    now = time.perf_counter_ns()
    engine.handle_batch([(_tick("GOOG", 1, 5000, snapshot=True), now - 10 * SECOND),
                         (_tick("GOOG", 2, 5001), now), (_tick("GOOG", 3, 5002), now)])
    assert len(sender.sent) == 1
    buckets = engine.metrics.tick_to_order.labels()
    assert sum(buckets.counts) == 1
    assert buckets.sum >= 10.0  # from the first tick's arrival, 10 s before the others'


def test_run_takes_everything_waiting_as_one_batch() -> None:
    async def scenario() -> tuple[_RecordingPolicy, Engine]:
        engine, _ = _engine()
        policy = _RecordingPolicy()
        _work(engine, "GOOG", policy)
        for ms in (1, 2, 3):  # all waiting before the engine runs: one batch
            engine.deliver(_tick("GOOG", ms, 5000 + ms, snapshot=ms == 1), time.perf_counter_ns())
        assert engine.metrics.registry.get_sample_value("execagent_engine_queue_depth") == 3
        consumer = asyncio.create_task(engine.run())
        await asyncio.sleep(0.01)
        engine.deliver(_tick("GOOG", 4, 5004), time.perf_counter_ns())  # alone: decided on
        await asyncio.sleep(0.01)
        consumer.cancel()
        return policy, engine

    policy, engine = asyncio.run(scenario())
    assert [_ms(t) for t, _, _ in policy.seen] == [3, 4]
    assert engine.metrics.ticks.labels("GOOG").value == 4
    assert engine.queue.qsize() == 0


def test_a_bad_event_in_a_batch_is_counted_and_the_rest_handled() -> None:
    engine, _ = _engine()
    policy = _RecordingPolicy()
    _work(engine, "GOOG", policy)
    now = time.perf_counter_ns()
    broken = MarketData("GOOG", START_NS + 2_000_000, (None,))  # type: ignore[arg-type]
    engine.handle_batch([(_tick("GOOG", 1, 5000, snapshot=True), now), (broken, now),
                         (_tick("GOOG", 3, 5003), now)])
    assert engine.errors == 1
    assert [_ms(t) for t, _, _ in policy.seen] == [3]
    assert engine.books["GOOG"].best_bid() == 5003


# (symbol, best bid, traded quantity) per tick.
_ticks = st.lists(
    st.tuples(st.sampled_from(SYMBOLS), st.integers(4_990, 5_010), st.integers(0, 50)),
    min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(_ticks, st.lists(st.integers(1, 30), max_size=6))
def test_superseding_changes_only_which_ticks_are_decided_on(ticks: list, cuts: list) -> None:
    """Any sequence of ticks, cut into batches anywhere: the books, the market statistics and
    the market volumes equal those of handling each tick alone, and the decisions are exactly
    on each batch's newest tick of each symbol."""
    messages: list[tuple[MarketData, int]] = [
        (_tick(symbol, ms + 1, bid, qty, snapshot=ms < 2), time.perf_counter_ns())
        for ms, (symbol, bid, qty) in enumerate(ticks)]
    alone, _ = _engine()
    batched, _ = _engine()
    policies = {}
    for engine, name in ((alone, "alone"), (batched, "batched")):
        for symbol in SYMBOLS:
            policies[name, symbol] = _RecordingPolicy()
            _work(engine, symbol, policies[name, symbol])
    for event, received_ns in messages:
        alone.handle(event, received_ns)
    bounds = sorted({0, len(messages), *(c for c in cuts if c < len(messages))})
    expected: dict[str, list[int]] = {symbol: [] for symbol in SYMBOLS}
    for start, end in itertools.pairwise(bounds):
        batch = messages[start:end]
        batched.handle_batch(batch)
        newest = {event.symbol: event.ts_ns for event, _ in batch}
        for event, _ in batch:
            if newest[event.symbol] == event.ts_ns:
                expected[event.symbol].append(event.ts_ns)
    for symbol in SYMBOLS:
        for side in Side:
            assert alone.books[symbol].depth(side, 50) == batched.books[symbol].depth(side, 50)
        a, b = alone.trackers[symbol], batched.trackers[symbol]
        assert (a.mid_return_bps, a.variance_bps2_per_s, a.signed_flow) == \
            (b.mid_return_bps, b.variance_bps2_per_s, b.signed_flow)
        parent = f"P-{symbol}"
        assert (alone._by_parent[parent].market_volume  # noqa: SLF001
                == batched._by_parent[parent].market_volume)  # noqa: SLF001
        decided = [t for t, _, _ in policies["batched", symbol].seen]
        assert decided == expected[symbol]
        assert [t for t, _, _ in policies["alone", symbol].seen] == \
            [event.ts_ns for event, _ in messages if event.symbol == symbol]


def test_a_tick_that_cannot_be_ordered_is_counted_and_the_batch_still_handled() -> None:
    """A MarketData whose symbol cannot be a key (no decoder makes one, but nothing on the
    engine's queue may stop its task): counted, and each event then handled and decided alone."""
    engine, _ = _engine()
    policy = _RecordingPolicy()
    _work(engine, "GOOG", policy)
    now = time.perf_counter_ns()
    odd = MarketData(["GOOG"], START_NS + 2_000_000)  # type: ignore[arg-type]
    engine.handle_batch([(_tick("GOOG", 1, 5000, snapshot=True), now), (odd, now),
                         (_tick("GOOG", 3, 5003), now)])
    assert engine.errors == 2  # the ordering, then the odd tick itself (its book lookup)
    assert [_ms(t) for t, _, _ in policy.seen] == [1, 3]
    assert engine.books["GOOG"].best_bid() == 5003
