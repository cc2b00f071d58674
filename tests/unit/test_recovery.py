"""Recovery after a crash, at the engine: what the store held comes back consistent with its
fills, every working order is asked about, the answers are applied (fills no report brought are
booked, orders that never reached the venue are closed), parents resume with exactly what
remains, and whatever cannot be squared halts trading, saying what differs.

The venue here is the test: it answers the order-status requests as a venue would. The same
path over real quickfix sessions and a real Redis, with the service killed for real, is
tests/e2e/test_crash_recovery.py."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import (
    BookUpdate,
    CancelReject,
    ChildOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    OrdType,
    ParentOrder,
    SessionStatus,
    Side,
    TimeInForce,
)
from models.baselines import TwapPolicy
from risk.state import KillTrigger, TradingState
from service.engine import Engine
from service.metrics import Metrics
from service.state.journal import MemoryJournal
from service.state.reconciliation import judge_status_answer
from service.state.recovery import load_state
from service.state.store import MemoryStore
from tests.support.risk import make_overlay, roomy
from tests.support.sending import RecordingSender

SECOND = 10**9
GOOG = Instrument("GOOG", Decimal("0.01"))


def _stored(children: list[ChildOrder], fills: dict[str, tuple[str, int, int]],
            parent_filled: int = 0) -> MemoryStore:
    """A store as a crashed run left it: parent P1 selling 1,000 GOOG over 100 s."""
    store = MemoryStore()
    store.save_parent(ParentOrder("P1", "GOOG", Side.SELL, 1_000, 0, 100 * SECOND, "twap",
                                  arrival_price_x2=116_000, filled=parent_filled))
    for child in children:
        store.save_child(child)
    for exec_id, (cl_ord_id, qty, price) in fills.items():
        store.record_fill(exec_id, cl_ord_id, qty, price)
    return store


def _child(cl_ord_id: str = "C1", status: OrdStatus = OrdStatus.NEW, cum: int = 0,
           **fields: object) -> ChildOrder:
    fields.setdefault("order_id", f"O-{cl_ord_id}")
    return ChildOrder(cl_ord_id, "P1", "GOOG", Side.SELL, 500, 58_001, OrdType.LIMIT,
                      TimeInForce.DAY, status, cum, **fields)  # type: ignore[arg-type]


@dataclass
class _Restarted:
    engine: Engine
    venue: RecordingSender
    metrics: Metrics
    journal: MemoryJournal
    state_changes: list[str]  # the overlay's reasons, as the service would store them


def _restart(store: MemoryStore, timeout_s: float = 10.0) -> _Restarted:
    """What the service does at start: load, restore the overlay, then the engine."""
    state = load_state(store)
    metrics = Metrics()
    changes: list[str] = []
    overlay = make_overlay(roomy(), on_state_change=lambda _state, why: changes.append(why))
    overlay.restore(state.working, state.fills, state.trading_state, state.trading_reason)
    venue = RecordingSender()
    journal = MemoryJournal()
    engine = Engine({"GOOG": GOOG}, overlay, venue, store, metrics, slice_seconds=10.0,
                    request_status=venue.request_status, reconcile_timeout_s=timeout_s,
                    journal=journal)
    engine.restore(state, lambda parent: TwapPolicy(passive=True))
    return _Restarted(engine, venue, metrics, journal, changes)


def _status(cl_ord_id: str, status: OrdStatus, cum: int, avg_px_ticks: float | None = None,
            exec_id: str = "S1", text: str = "", qty: int = 500) -> ExecutionReport:
    """The venue's answer to an order-status request for a sell order of ``qty``."""
    return ExecutionReport(cl_ord_id, exec_id, ExecType.ORDER_STATUS, status, "GOOG", Side.SELL,
                           cum, 0 if status.is_terminal else qty - cum, order_id=f"O-{cl_ord_id}",
                           avg_px_ticks=avg_px_ticks, text=text)


def _tick(engine: Engine, ts_s: float) -> None:
    ts = int(ts_s * SECOND)
    engine.on_market_data(MarketData("GOOG", ts, (BookUpdate("GOOG", Side.BUY, 57_999, 500, ts),
                                                  BookUpdate("GOOG", Side.SELL, 58_001, 500, ts))),
                          time.perf_counter_ns())


def _value(metrics: Metrics, name: str) -> float:
    found = metrics.registry.get_sample_value(name)
    assert found is not None, name
    return found


def test_fills_are_the_truth_a_crash_between_two_writes_cannot_skew() -> None:
    # The crash came after the fill E2 was recorded and before the child and the parent were
    # saved again: both records are one fill behind.
    store = _stored([_child(cum=100)], {"E1": ("C1", 100, 58_001), "E2": ("C1", 50, 58_002)},
                    parent_filled=100)
    state = load_state(store)
    [child] = state.children
    [parent] = state.parents
    assert (child.cum_qty, child.notional_ticks) == (150, 100 * 58_001 + 50 * 58_002)
    assert (parent.filled, parent.remaining) == (150, 850)
    assert not state.problems


def test_records_that_do_not_add_up_are_named() -> None:
    store = _stored([_child(cum=0)], {"E1": ("C-gone", 10, 58_000)})
    store.save_child(ChildOrder("C9", "P-gone", "GOOG", Side.SELL, 5, 58_000, OrdType.LIMIT,
                                TimeInForce.DAY))
    problems = load_state(store).problems
    assert any("C-gone, which no stored child order has" in p for p in problems)
    assert any("C9 belongs to parent P-gone" in p for p in problems)


def test_a_status_answer_books_the_fill_no_report_brought_and_the_parent_resumes() -> None:
    store = _stored([_child(cum=200)], {"E1": ("C1", 200, 58_001)}, parent_filled=200)
    restarted = _restart(store)
    engine, venue, metrics = restarted.engine, restarted.venue, restarted.metrics
    assert engine.risk.position("GOOG") == -200
    assert engine.risk.unknown_orders() == 1
    engine.on_session_status(SessionStatus(True))
    assert venue.asked == ["C1"]
    _tick(engine, 50)
    assert venue.sent == []  # nothing trades before the venue has answered
    # At the venue, C1 sold 300 more at 580.02 while we were down: AvgPx 580.0160.
    engine.on_execution_report(_status("C1", OrdStatus.PARTIALLY_FILLED, 500,
                                       avg_px_ticks=(200 * 58_001 + 300 * 58_002) / 500))
    parent = engine.parent("P1")
    assert (parent.filled, parent.notional_ticks) == (500, 200 * 58_001 + 300 * 58_002)
    recovered = {k: v for k, v in store.fills().items() if k != "E1"}
    assert list(recovered.values()) == [("C1", 300, 58_002)]
    assert engine.risk.position("GOOG") == -500
    assert engine.risk.unknown_orders() == 0
    assert engine.reconciliation is None and engine.risk.state is TradingState.ACTIVE
    assert _value(metrics, "execagent_recovered_fills_total") == 1
    [entry] = [e for e in restarted.journal.entries if e["kind"] == "reconciliation"]
    assert (entry["outcome"], entry["orders"], entry["recovered_fills"]) == ("squared", "1", "1")
    # The same answer again (a duplicate) recovers nothing twice.
    engine.on_execution_report(_status("C1", OrdStatus.PARTIALLY_FILLED, 500, 58_001.6, "S2"))
    assert engine.parent("P1").filled == 500
    _tick(engine, 60)
    assert venue.sent  # trading resumed


def test_an_order_written_ahead_but_never_sent_is_closed_by_the_venues_answer() -> None:
    store = _stored([_child(status=OrdStatus.PENDING_NEW, order_id=None)], {})
    restarted = _restart(store)
    engine, venue = restarted.engine, restarted.venue
    engine.on_session_status(SessionStatus(True))
    engine.on_execution_report(_status("C1", OrdStatus.REJECTED, 0, text="unknown order"))
    [child] = store.children()
    assert child.status is OrdStatus.REJECTED
    assert engine.risk.open_orders() == {}
    assert engine.risk.state is TradingState.ACTIVE
    _tick(engine, 50)
    assert any(isinstance(intent, NewOrder) for intent in venue.sent)


def test_a_cancel_reject_answering_the_status_request_means_the_same() -> None:
    store = _stored([_child(status=OrdStatus.PENDING_NEW, order_id=None)], {})
    engine = _restart(store).engine
    engine.on_session_status(SessionStatus(True))
    engine.on_cancel_reject(CancelReject("C1", "C1", OrdStatus.REJECTED, "1", "unknown order"))
    assert store.children()[0].status is OrdStatus.REJECTED
    assert engine.reconciliation is None and engine.risk.state is TradingState.ACTIVE


@pytest.mark.parametrize(("answer", "says"), [
    (_status("C1", OrdStatus.REJECTED, 0, text="unknown order"),
     "C1 is NEW in our records, the venue does not know it"),
    (_status("C1", OrdStatus.PARTIALLY_FILLED, 100, 58_001.0),
     "C1: the venue reports 100 filled, our fills add up to 200"),
])
def test_what_cannot_be_squared_halts_saying_what_differs(answer: ExecutionReport,
                                                          says: str) -> None:
    store = _stored([_child(cum=200)], {"E1": ("C1", 200, 58_001)})
    restarted = _restart(store)
    engine = restarted.engine
    engine.on_session_status(SessionStatus(True))
    engine.on_execution_report(answer)
    assert engine.risk.state is TradingState.HALTED
    assert engine.risk.kills == {KillTrigger.RECOVERY: 1}
    assert says in restarted.state_changes[-1]
    assert _value(restarted.metrics, "execagent_reconciliation_failures_total") == 1


def test_a_venue_that_never_answers_halts_trading() -> None:
    engine = _restart(_stored([_child()], {}), timeout_s=1e-9).engine
    engine.on_session_status(SessionStatus(True))
    time.sleep(0.001)  # past the (one-nanosecond) deadline
    engine.check_reconciliation_deadline()
    assert engine.risk.state is TradingState.HALTED
    assert engine.reconciliation is None


def test_a_replace_in_flight_is_settled_by_the_name_the_venue_answers_under() -> None:
    pending = {"pending_cl_ord_id": "C2", "pending_qty": 400, "pending_price": 58_003}
    store = _stored([_child(**pending)], {})
    engine = _restart(store).engine
    engine.on_session_status(SessionStatus(True))
    engine.on_execution_report(_status("C2", OrdStatus.NEW, 0, qty=400))
    order = engine.oms.get("C2")
    assert order is not None
    assert (order.cl_ord_id, order.qty, order.price, order.pending_cl_ord_id) == \
        ("C2", 400, 58_003, None)
    assert engine.risk.open_orders() == {"C2": ("GOOG", Side.SELL, 400)}

    # Under the old name: the replace never took; the order is free for a new request.
    store = _stored([_child(**pending)], {})
    engine = _restart(store).engine
    engine.on_session_status(SessionStatus(True))
    engine.on_execution_report(_status("C1", OrdStatus.NEW, 0))
    order = engine.oms.get("C1")
    assert order is not None
    assert (order.qty, order.price, order.pending_cl_ord_id) == (500, 58_001, None)
    assert engine.risk.open_orders() == {"C1": ("GOOG", Side.SELL, 500)}


def test_a_halt_survives_a_restart() -> None:
    store = _stored([], {})
    store.save_trading_state("halted", "kill switch (operator): lunch")
    engine = _restart(store).engine
    assert engine.risk.state is TradingState.HALTED


def test_after_a_reconnect_the_working_orders_are_asked_about_again() -> None:
    store = _stored([_child()], {})
    restarted = _restart(store)
    engine, venue = restarted.engine, restarted.venue
    engine.on_session_status(SessionStatus(True))
    engine.on_execution_report(_status("C1", OrdStatus.NEW, 0))
    assert engine.reconciliation is None
    engine.on_session_status(SessionStatus(False, "venue went away"))
    engine.on_session_status(SessionStatus(True))
    assert venue.asked == ["C1", "C1"]
    assert engine.reconciliation is not None


@given(known=st.lists(st.tuples(st.integers(1, 300), st.integers(57_000, 59_000)), max_size=5),
       missed=st.lists(st.tuples(st.integers(1, 300), st.integers(57_000, 59_000)), min_size=1,
                       max_size=5))
def test_a_recovered_fill_makes_our_average_the_venues(
        known: list[tuple[int, int]], missed: list[tuple[int, int]]) -> None:
    """Whatever fills the venue made and we missed, the one booked in their place carries
    exactly their quantity, and a notional within half a tick per share of theirs (exact when
    one fill was missed)."""
    order = _child(cum=sum(q for q, _ in known))
    order.qty = order.cum_qty + sum(q for q, _ in missed)
    order.notional_ticks = sum(q * p for q, p in known)
    cum = order.qty
    venue_notional = order.notional_ticks + sum(q * p for q, p in missed)
    answer = _status("C1", OrdStatus.FILLED, cum, avg_px_ticks=venue_notional / cum,
                     qty=order.qty)
    problem, fill = judge_status_answer(order, answer)
    assert problem == "" and fill is not None and fill.last_px is not None
    missed_qty = sum(q for q, _ in missed)
    assert fill.last_qty == missed_qty
    assert abs(order.notional_ticks + fill.last_qty * fill.last_px - venue_notional) <= \
        missed_qty / 2 + 1e-6 * venue_notional
    if len(missed) == 1:
        assert fill.last_px == missed[0][1]


def _filled_200(store: MemoryStore) -> Engine:
    """A restarted engine whose C1, reconciled as New, then sold 200 at 580.01 (trade T1)."""
    engine = _restart(store).engine
    engine.on_session_status(SessionStatus(True))
    engine.on_execution_report(_status("C1", OrdStatus.NEW, 0))
    engine.on_execution_report(ExecutionReport(
        "C1", "T1", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, "GOOG", Side.SELL, 200, 300,
        200, 58_001, order_id="O-C1"))
    return engine


def test_a_bust_is_stored_so_a_restart_sees_the_amended_quantities() -> None:
    store = _stored([_child()], {})
    first = _filled_200(store)
    first.on_execution_report(ExecutionReport(
        "C1", "B1", ExecType.TRADE_CANCEL, OrdStatus.NEW, "GOOG", Side.SELL, 0, 500,
        order_id="O-C1", exec_ref_id="T1"))
    assert first.parent("P1").filled == 0 and first.risk.position("GOOG") == 0
    assert store.fills()["T1:busted"] == ("C1", -200, 58_001)

    again = _restart(store).engine
    assert again.parent("P1").filled == 0
    assert again.risk.position("GOOG") == 0 and again.risk.pnl() == pytest.approx(0)
    # The busted trade cannot be busted twice, after the restart either.
    again.on_execution_report(ExecutionReport(
        "C1", "B2", ExecType.TRADE_CANCEL, OrdStatus.NEW, "GOOG", Side.SELL, 0, 500,
        order_id="O-C1", exec_ref_id="T1"))
    assert again.parent("P1").filled == 0 and again.risk.position("GOOG") == 0


def test_a_correction_moves_the_risk_position_to_the_corrected_trade() -> None:
    engine = _filled_200(_stored([_child()], {}))
    engine.on_execution_report(ExecutionReport(
        "C1", "K1", ExecType.TRADE_CORRECT, OrdStatus.PARTIALLY_FILLED, "GOOG", Side.SELL, 150,
        350, 150, 58_003, order_id="O-C1", exec_ref_id="T1"))
    assert engine.risk.position("GOOG") == -150
    assert engine.parent("P1").filled == 150
    assert engine.parent("P1").notional_ticks == 150 * 58_003


def test_orders_on_a_symbol_no_longer_configured_are_left_in_the_store() -> None:
    store = _stored([_child(status=OrdStatus.FILLED, cum=500)], {"E1": ("C1", 500, 58_001)})
    store.save_parent(ParentOrder("P-old", "MSFT", Side.BUY, 10, 0, 1, "twap", done=True))
    store.save_child(ChildOrder("C-old", "P-old", "MSFT", Side.BUY, 10, 30_000, OrdType.LIMIT,
                                TimeInForce.DAY, OrdStatus.FILLED, 10))
    store.record_fill("E-old", "C-old", 10, 30_000)
    state = load_state(store, {"GOOG"})
    assert [p.parent_id for p in state.parents] == ["P1"]
    assert [c.cl_ord_id for c in state.children] == ["C1"]
    assert [fill[0] for fill in state.fills] == ["E1"]
    assert (state.set_aside, state.problems) == (1, [])

    store.save_parent(ParentOrder("P-live", "MSFT", Side.BUY, 10, 0, 10 * SECOND, "twap"))
    store.save_child(ChildOrder("C-live", "P-live", "MSFT", Side.BUY, 10, 30_000,
                                OrdType.LIMIT, TimeInForce.DAY, OrdStatus.NEW))
    problems = load_state(store, {"GOOG"}).problems
    assert any("unfinished parent order P-live is for MSFT, which is not among the "
               "instruments" in p for p in problems)
    assert any("child order C-live is working on MSFT" in p for p in problems)
