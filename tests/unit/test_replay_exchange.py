"""The LOBSTER replay exchange: market data that rebuilds each recorded row, the agent's orders
and their reports, queue position, latency and the event-time window."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from core.depth_book import DepthBook
from core.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    MarketData,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ParentOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from core.oms import OrderManager
from sim.exchange import AgentFill, Exchange, ExchangeEvent
from sim.lobster import BookRow, LobsterSample, open_sample
from sim.replay import ReplayMarket
from sim.replay_exchange import ReplayExchange

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
STEM = "AAA_2012-06-21_34200000_57600000_{kind}_2.csv"
SYM = "AAA"

# Message (time, type, id, size, price x 10^4, direction) and the 2-level book after it
# (ask price, ask size, bid price, bid size per level). Ticks: $100.00 = 10,000.
ROWS_AND_MESSAGES = [
    ("34200.0,1,1,100,1000000,1", "1010000,100,1000000,100,1020000,200,990000,50"),
    ("34200.1,1,2,30,1000000,1", "1010000,100,1000000,130,1020000,200,990000,50"),
    ("34200.2,4,1,60,1000000,1", "1010000,100,1000000,70,1020000,200,990000,50"),
    ("34200.3,5,0,25,1005050,-1", "1010000,100,1000000,70,1020000,200,990000,50"),  # hidden
    ("34200.4,3,9,50,990000,1", "1010000,100,1000000,70,1020000,200,980000,40"),
    ("34200.5,1,10,20,1030000,-1", "1010000,100,1000000,70,1020000,200,980000,40"),  # unseen
    ("34200.6,2,3,40,1010000,-1", "1010000,60,1000000,70,1020000,200,980000,40"),
    ("34200.7,4,3,60,1010000,-1", "1020000,200,1000000,70,1030000,20,980000,40"),
    ("34200.8,1,11,10,1000000,1", "1020000,200,1000000,80,1030000,20,980000,40"),
    ("34200.9,4,1,40,1000000,1", "1020000,200,1000000,40,1030000,20,980000,40"),
    ("34201.0,4,2,30,1000000,1", "1020000,200,1000000,10,1030000,20,980000,40"),
    ("34201.1,4,11,10,1000000,1", "1020000,200,980000,40,1030000,20,970000,5"),
]


@pytest.fixture
def sample(tmp_path: Path) -> LobsterSample:
    (tmp_path / STEM.format(kind="message")).write_text(
        "\n".join(m for m, _ in ROWS_AND_MESSAGES) + "\n")
    (tmp_path / STEM.format(kind="orderbook")).write_text(
        "\n".join(r for _, r in ROWS_AND_MESSAGES) + "\n")
    return open_sample(tmp_path)


def _times(sample: LobsterSample) -> list[int]:
    """Event time of each message, index 0 = the first."""
    return [m.ts_ns for m in sample.messages()]


def _levels(book: DepthBook) -> BookRow:
    return BookRow(tuple(book.depth(Side.SELL, 100)), tuple(book.depth(Side.BUY, 100)))


def _market_data(events: list[ExchangeEvent]) -> list[MarketData]:
    return [e for e in events if isinstance(e, MarketData)]


def _reports(events: list[ExchangeEvent]) -> list[ExecutionReport]:
    return [e for e in events if isinstance(e, ExecutionReport)]


def _summary(events: list[ExchangeEvent]) -> list[tuple[object, ...]]:
    """Each report as (ExecType, OrdStatus, cum, leaves, last qty, last px)."""
    return [(r.exec_type, r.ord_status, r.cum_qty, r.leaves_qty, r.last_qty, r.last_px)
            for r in _reports(events)]


def _new(cl: str, side: Side, qty: int, price: int | None,
         tif: TimeInForce = TimeInForce.DAY) -> NewOrder:
    ord_type = OrdType.MARKET if price is None else OrdType.LIMIT
    return NewOrder(cl, "P1", SYM, side, qty, price, ord_type, tif)


def _file_deep(sample: LobsterSample) -> ReplayExchange:
    """The book ending where the file does: no hidden levels behind its two
    (tests/unit/test_hidden_levels.py has those)."""
    return ReplayExchange(sample, SYM, market=ReplayMarket(sample, hidden=None))


def _act(exchange: ReplayExchange, intent: OrderIntent) -> list[ExchangeEvent]:
    """Send with no latency and apply it (it goes before the next recorded message)."""
    assert exchange.send(intent, exchange.now_ns)
    return exchange.step()


def test_it_is_an_exchange(sample: LobsterSample) -> None:
    exchange: Exchange = ReplayExchange(sample, SYM)
    assert exchange.next_event_ns() == _times(sample)[1]


def test_market_data_rebuilds_every_recorded_row_and_prints_every_execution(
        sample: LobsterSample) -> None:
    exchange = ReplayExchange(sample, SYM)
    rows = list(sample.book_rows())
    book = DepthBook(SYM)
    book.apply_market_data(exchange.snapshot())
    assert _levels(book) == rows[0]
    trades, silent = [], []
    for n, row in enumerate(rows[1:], start=2):
        events = exchange.step()
        assert _reports(events) == []
        if not events:
            silent.append(n)
        for message in _market_data(events):
            assert not message.snapshot and message.ts_ns == exchange.now_ns
            book.apply_market_data(message)
            trades += [(t.price, t.qty, t.aggressor) for t in message.trades]
        assert _levels(book) == row, f"after message {n}"
    assert exchange.next_event_ns() is None and exchange.step() == []
    # Executions print with the aggressor opposite to the resting order hit; the hidden one at
    # $100.505 prints at the tick below and leaves the book alone.
    assert trades == [(10_000, 60, Side.SELL), (10_050, 25, Side.BUY), (10_100, 60, Side.BUY),
                      (10_000, 40, Side.SELL), (10_000, 30, Side.SELL), (10_000, 10, Side.SELL)]
    assert silent == [6]  # an order beyond the displayed levels changes nothing visible
    assert exchange.fills == []


def test_a_level_update_names_only_the_levels_that_changed(sample: LobsterSample) -> None:
    exchange = ReplayExchange(sample, SYM)
    exchange.step()  # bid 100.00 grows to 130
    exchange.step()
    exchange.step()
    (message,) = _market_data(exchange.step())  # 99.00 deleted, 98.00 comes into view
    assert {(u.side, u.price, u.qty) for u in message.updates} == \
        {(Side.BUY, 9_900, 0), (Side.BUY, 9_800, 40)}


def test_an_aggressive_ioc_sell_takes_the_displayed_bids_once(sample: LobsterSample) -> None:
    exchange = _file_deep(sample)
    start = exchange.now_ns
    events = _act(exchange, _new("C1", Side.SELL, 200, 9_900, TimeInForce.IOC))
    assert _summary(events) == [
        (ExecType.NEW, OrdStatus.NEW, 0, 200, 0, None),
        (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 100, 100, 100, 10_000),
        (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 150, 50, 50, 9_900),
        (ExecType.CANCELED, OrdStatus.CANCELED, 150, 0, 0, None),
    ]
    reports = _reports(events)
    assert {(r.cl_ord_id, r.order_id, r.side, r.symbol, r.ts_ns) for r in reports} == \
        {("C1", reports[0].order_id, Side.SELL, SYM, start)}
    assert len({r.exec_id for r in reports}) == 4
    assert exchange.fills == [AgentFill(start, 10_000, 100, False),
                              AgentFill(start, 9_900, 50, False)]
    (message,) = _market_data(events)  # the agent emptied both bid levels, and printed
    assert {(u.price, u.qty) for u in message.updates} == {(10_000, 0), (9_900, 0)}
    assert [(t.price, t.qty, t.aggressor) for t in message.trades] == \
        [(10_000, 100, Side.SELL), (9_900, 50, Side.SELL)]

    # The same shares are not there a second time.
    again = _act(exchange, _new("C2", Side.SELL, 50, 9_900, TimeInForce.IOC))
    assert [s[:2] for s in _summary(again)] == [(ExecType.NEW, OrdStatus.NEW),
                                              (ExecType.CANCELED, OrdStatus.CANCELED)]
    # 30 more join at $100.00: the view shows only those, and only those can be taken.
    (message,) = _market_data(exchange.step())
    assert [(u.price, u.qty) for u in message.updates] == [(10_000, 30)]
    third = _act(exchange, _new("C3", Side.SELL, 50, 10_000, TimeInForce.IOC))
    assert [s[4:] for s in _summary(third) if s[0] is ExecType.TRADE] == [(30, 10_000)]
    assert sum(f.qty for f in exchange.fills) == 180


def test_a_market_order_walks_the_book_and_drops_what_it_cannot_fill(
        sample: LobsterSample) -> None:
    exchange = _file_deep(sample)
    events = _act(exchange, _new("C1", Side.BUY, 400, None))
    assert _summary(events)[1:] == [
        (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 100, 300, 100, 10_100),
        (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 300, 100, 200, 10_200),
        (ExecType.CANCELED, OrdStatus.CANCELED, 300, 0, 0, None),
    ]
    book = DepthBook(SYM)
    book.apply_market_data(exchange.snapshot())
    assert book.best_ask() is None and book.best_bid() == 10_000


def test_a_resting_order_fills_only_once_the_queue_ahead_has_traded(
        sample: LobsterSample) -> None:
    exchange = ReplayExchange(sample, SYM)
    book = DepthBook(SYM)
    book.apply_market_data(exchange.snapshot())
    events = _act(exchange, _new("C1", Side.BUY, 20, 10_000))
    assert _summary(events) == [(ExecType.NEW, OrdStatus.NEW, 0, 20, 0, None)]
    for message in _market_data(events):
        book.apply_market_data(message)
    assert book.qty_at(Side.BUY, 10_000) == 120  # the agent's own order is displayed too
    assert exchange.working_qty() == 20
    per_message: list[list[tuple[object, ...]]] = []
    while exchange.next_event_ns() is not None:
        events = exchange.step()
        per_message.append(_summary(events))
        for message in _market_data(events):
            book.apply_market_data(message)
    # 100 were ahead: 60 + 40 of order #1 trade first; #2's execution (30) reaches the agent.
    assert per_message[:9] == [[]] * 9
    assert per_message[9] == [(ExecType.TRADE, OrdStatus.FILLED, 20, 0, 20, 10_000)]
    assert per_message[10] == []
    assert [(f.price, f.qty, f.passive) for f in exchange.fills] == [(10_000, 20, True)]
    assert exchange.working_qty() == 0
    assert book.best_bid() == 9_800  # the recorded level emptied; the agent's order is gone


def test_one_execution_never_fills_more_agent_shares_than_it_traded(
        sample: LobsterSample) -> None:
    exchange = ReplayExchange(sample, SYM)
    _act(exchange, _new("A", Side.BUY, 20, 10_000))
    _act(exchange, _new("B", Side.BUY, 20, 10_000))
    fills_at: dict[int, list[tuple[str, int]]] = {}
    while exchange.next_event_ns() is not None:
        events = exchange.step()
        fills_at[exchange.now_ns] = [(r.cl_ord_id, r.last_qty) for r in _reports(events)]
    times = _times(sample)
    # The execution of 30 fills A's 20 and only 10 of B; the next one (10) the rest of B.
    assert fills_at[times[10]] == [("A", 20), ("B", 10)]
    assert fills_at[times[11]] == [("B", 10)]


def test_cancel_and_replace_reports(sample: LobsterSample) -> None:
    exchange = _file_deep(sample)
    oms = OrderManager()
    oms.add_parent(ParentOrder("P1", SYM, Side.BUY, 1_000, 0, 2**62, "test"))

    def act(intent: OrderIntent) -> list[ExchangeEvent]:
        oms.on_sent(intent)
        events = _act(exchange, intent)
        for event in events:
            if isinstance(event, ExecutionReport):
                oms.on_execution_report(event)
            elif isinstance(event, CancelReject):
                oms.on_cancel_reject(event)
        return events

    act(_new("C1", Side.BUY, 40, 9_900))
    exchange.step()  # 30 more bid at $100.00: a requeued order would now count as later
    resting = exchange.market.working()[0]
    assert (resting.ahead, resting.arrival_seq) == (50, 0)
    # Smaller at the same price: the queue place is kept.
    (replaced,) = _reports(act(ReplaceOrder("C2", "C1", "P1", SYM, Side.BUY, 30, 9_900)))
    assert (replaced.exec_type, replaced.ord_status, replaced.cl_ord_id,
            replaced.orig_cl_ord_id, replaced.cum_qty, replaced.leaves_qty) == \
        (ExecType.REPLACED, OrdStatus.NEW, "C2", "C1", 0, 30)
    assert exchange.market.working() == [resting] and resting.arrival_seq == 0
    assert resting.leaves == 30
    # To a marketable price: requeued, takes the 100 offered at $101.00, rests the rest there.
    events = act(ReplaceOrder("C3", "C2", "P1", SYM, Side.BUY, 150, 10_100))
    assert _summary(events) == [
        (ExecType.REPLACED, OrdStatus.NEW, 0, 150, 0, None),
        (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 100, 50, 100, 10_100),
    ]
    (message,) = _market_data(events)
    assert {(u.side, u.price, u.qty) for u in message.updates} == \
        {(Side.SELL, 10_100, 0), (Side.BUY, 10_100, 50), (Side.BUY, 9_900, 50)}
    assert exchange.market.working()[0].arrival_seq == 1
    # A new total at or below what has filled is refused; the order stays as it was.
    (refused,) = act(ReplaceOrder("C4", "C3", "P1", SYM, Side.BUY, 100, 10_100))
    assert isinstance(refused, CancelReject) and refused.orig_cl_ord_id == "C3"
    (cancelled,) = _reports(act(CancelOrder("C5", "C3", "P1", SYM, Side.BUY, 150)))
    assert (cancelled.exec_type, cancelled.ord_status, cancelled.cl_ord_id,
            cancelled.orig_cl_ord_id, cancelled.cum_qty, cancelled.leaves_qty) == \
        (ExecType.CANCELED, OrdStatus.CANCELED, "C5", "C3", 100, 0)
    assert exchange.working_qty() == 0 and exchange.market.working() == []
    # Cancelling it again, or an order never sent, is answered with a CancelReject.
    for orig in ("C5", "nope"):
        (reject,) = act(CancelOrder("C6" + orig, orig, "P1", SYM, Side.BUY, 150))
        assert isinstance(reject, CancelReject)
        assert (reject.orig_cl_ord_id, reject.ord_status) == (orig, None)
    # The engine's OMS took every report as the venue's.
    child = oms.get("C5")
    assert child is not None and child.status is OrdStatus.CANCELED and child.cum_qty == 100
    assert oms.parents["P1"].filled == 100
    assert (oms.rejected_transitions, oms.unknown_reports) == (0, 1)  # "nope" was never sent


def test_bad_new_orders_are_rejected(sample: LobsterSample) -> None:
    exchange = ReplayExchange(sample, SYM)
    _act(exchange, _new("C1", Side.BUY, 10, 9_000))
    for intent in (_new("C1", Side.BUY, 10, 9_000), _new("C2", Side.BUY, 0, 9_000),
                   NewOrder("C3", "P1", SYM, Side.BUY, 10, None, OrdType.LIMIT)):
        (report,) = _act(exchange, intent)
        assert isinstance(report, ExecutionReport)
        assert (report.exec_type, report.ord_status) == (ExecType.REJECTED, OrdStatus.REJECTED)
        assert report.text
    assert exchange.working_qty() == 10


@pytest.mark.parametrize("latency_ms, filled", [(0, 100), (100, 100), (250, 70)])
def test_latency_delays_the_order_in_event_time(sample: LobsterSample, latency_ms: int,
                                                filled: int) -> None:
    exchange = ReplayExchange(sample, SYM, latency_ns=latency_ms * 1_000_000)
    sent = exchange.now_ns
    assert exchange.send(_new("C1", Side.SELL, 100, 10_000, TimeInForce.IOC), sent)
    arrival = sent + latency_ms * 1_000_000
    for _ in ROWS_AND_MESSAGES:
        if reports := _reports(exchange.step()):
            break
    # 100 bid at $100.00 when sent; 30 join at +100 ms (after an order due at the same time),
    # 60 trade at +200 ms.
    assert exchange.now_ns == arrival and {r.ts_ns for r in reports} == {arrival}
    assert sum(r.last_qty for r in reports) == filled
    assert [f.ts_ns for f in exchange.fills] == [arrival]


def test_the_window_skips_to_its_start_and_ends_at_its_end(sample: LobsterSample) -> None:
    times = _times(sample)
    rows = list(sample.book_rows())
    exchange = ReplayExchange(sample, SYM, start_ns=times[4], end_ns=times[7])
    assert exchange.now_ns == times[4]
    book = DepthBook(SYM)
    book.apply_market_data(exchange.snapshot())
    assert _levels(book) == rows[3]  # the book just before the start
    seen = []
    while (next_ns := exchange.next_event_ns()) is not None:
        seen.append(next_ns)
        for message in _market_data(exchange.step()):
            book.apply_market_data(message)
    assert seen == times[4:7]
    assert _levels(book) == rows[6]
    assert exchange.step() == []
    # An intent that would arrive at or after the end is refused; one before it is handled
    # even though no recorded message is left.
    assert not exchange.send(_new("late", Side.BUY, 10, 9_800), times[7])
    assert exchange.send(_new("C1", Side.SELL, 10, 10_000, TimeInForce.IOC), times[7] - 1)
    assert exchange.next_event_ns() == times[7] - 1
    assert [r.exec_type for r in _reports(exchange.step())] == [ExecType.NEW, ExecType.TRADE]
    assert exchange.next_event_ns() is None


def test_without_an_end_the_market_closes_with_its_data(sample: LobsterSample) -> None:
    times = _times(sample)
    exchange = ReplayExchange(sample, SYM, start_ns=times[10] + 1)
    assert exchange.now_ns == times[10] + 1
    assert exchange.next_event_ns() == times[11]
    assert exchange.step() != []
    assert exchange.next_event_ns() is None
    assert not exchange.send(_new("C1", Side.BUY, 10, 9_800), exchange.now_ns)
    past_the_end = ReplayExchange(sample, SYM, start_ns=times[-1] + 1)
    assert past_the_end.next_event_ns() is None
    assert _levels_of(past_the_end) == list(sample.book_rows())[-1]
    with pytest.raises(ValueError, match="empty"):
        ReplayExchange(sample, SYM, start_ns=times[5], end_ns=times[5])


def _levels_of(exchange: ReplayExchange) -> BookRow:
    book = DepthBook(SYM)
    book.apply_market_data(exchange.snapshot())
    return _levels(book)


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")
@pytest.mark.parametrize("start_message", [None, 60_000])
def test_goog_market_data_equals_the_recorded_rows(start_message: int | None) -> None:
    sample = open_sample(GOOG)
    start_ns = None
    skipped = 1  # rows before the first step: the opening row
    if start_message is not None:
        start_ns = next(itertools.islice(sample.messages(), start_message, None)).ts_ns
        skipped = sum(1 for m in sample.messages() if m.ts_ns < start_ns)
    exchange = ReplayExchange(sample, "GOOG", start_ns=start_ns)
    rows = itertools.islice(sample.book_rows(), skipped - 1, None)
    book = DepthBook("GOOG")
    book.apply_market_data(exchange.snapshot())
    assert _levels(book) == next(rows)
    trades = 0
    for n, row in enumerate(itertools.islice(rows, 4_000)):
        for message in _market_data(exchange.step()):
            book.apply_market_data(message)
            trades += len(message.trades)
        assert _levels(book) == row, f"row {skipped + n + 1}"
    assert trades > 0
