"""Execution reports at the engine: none lost, none believed blindly.

A fill that fails its checks (core/fill_rules.py) is recorded as the venue stated it and never
moves the position or the P&L; its parent stops and its symbol is held. A report that cannot be
read makes its order unknown, asks the venue, and lets the parent send nothing but cancels until
the answer comes. A parent always ends. A restart after a fill that was not believed keeps the
position it had. The venue here is the test (tests/support/sending.py); the same over real
quickfix sessions is tests/integration/test_persona_matrix.py and
tests/integration/test_untrusted_reports_wire.py."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

import pytest

from core.domain import (
    BookUpdate,
    CancelOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    ParentOrder,
    Side,
    UnreadableReport,
)
from models.baselines import TwapPolicy
from risk.overlay import RiskOverlay
from risk.verdict import DenyReason
from service.engine import Engine
from service.metrics import Metrics
from service.state.journal import MemoryJournal
from service.state.recovery import load_state
from service.state.store import MemoryStore
from tests.support.risk import make_overlay, roomy
from tests.support.sending import RecordingSender

SECOND = 10**9
GOOG = Instrument("GOOG", Decimal("0.01"))
BID, ASK = 57_999, 58_001


@dataclass
class Desk:
    engine: Engine
    venue: RecordingSender
    risk: RiskOverlay
    store: MemoryStore
    metrics: Metrics
    journal: MemoryJournal
    parent: ParentOrder

    def tick(self, ts_s: float) -> None:
        ts = int(ts_s * SECOND)
        self.engine.handle(MarketData("GOOG", ts, (BookUpdate("GOOG", Side.BUY, BID, 500, ts),
                                                   BookUpdate("GOOG", Side.SELL, ASK, 500, ts))),
                           time.perf_counter_ns())

    def report(self, report: object) -> None:
        self.engine.handle(report, time.perf_counter_ns())

    def child(self) -> NewOrder:
        news = [i for i in self.venue.sent if isinstance(i, NewOrder)]
        assert news, "no child order sent"
        return news[-1]

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels or None) or 0.0


def _desk(qty: int = 1_000, store: MemoryStore | None = None, settle_s: float = 10.0) -> Desk:
    store = store or MemoryStore()
    metrics = Metrics()
    risk = make_overlay(roomy())
    risk.on_holds_change = store.save_symbol_holds
    venue = RecordingSender()
    journal = MemoryJournal()
    engine = Engine({"GOOG": GOOG}, risk, venue, store, metrics, slice_seconds=10.0,
                    request_status=venue.request_status, journal=journal,
                    horizon_grace_seconds=5.0, settle_seconds=settle_s)
    parent = ParentOrder("P1", "GOOG", Side.SELL, qty, 0, 100 * SECOND, "twap")
    engine.submit(parent, TwapPolicy(passive=True))
    desk = Desk(engine, venue, risk, store, metrics, journal, parent)
    desk.tick(1.0)  # the arrival mid, and a first child resting at the ask
    return desk


def _fill(cl_ord_id: str, exec_id: str, qty: int, px: int | None, cum: int, order_qty: int,
          side: Side = Side.SELL, **fields: object) -> ExecutionReport:
    status = OrdStatus.FILLED if cum >= order_qty else OrdStatus.PARTIALLY_FILLED
    return ExecutionReport(cl_ord_id, exec_id, ExecType.TRADE, status, "GOOG", side, cum,
                           max(order_qty - cum, 0), qty, px, **fields)  # type: ignore[arg-type]


def _assert_nothing_booked_and_stopped(desk: Desk, exec_id: str, reason: str) -> None:
    assert desk.parent.filled == 0 and desk.parent.notional_ticks == 0
    assert desk.risk.position("GOOG") == 0 and desk.risk.pnl() == 0.0
    assert desk.store.fills() == {}
    assert exec_id in desk.store.suspect_fills()
    assert desk.parent.stopped and "not believed" in desk.parent.stopped
    assert "GOOG" in desk.risk.held_symbols() and "GOOG" in desk.store.symbol_holds()
    assert desk.metric("execagent_suspect_fills_total", reason=reason) >= 1
    assert any(e["kind"] == "suspect_fill" and e["exec_id"] == exec_id
               for e in desk.journal.entries)


@pytest.mark.parametrize(("px", "px_text", "side", "reason"), [
    (-58_000, "", Side.SELL, "price"),  # -580.00
    (0, "", Side.SELL, "price"),
    (9_999_999_999_999, "", Side.SELL, "band"),  # 99,999,999,999.99: P&L +9.99e12 if booked
    (None, "580.005", Side.SELL, "tick_grid"),
    (ASK, "", Side.BUY, "side"),  # a BUY fill on the SELL child
])
def test_an_impossible_fill_is_recorded_as_stated_and_never_booked(
        px: int | None, px_text: str, side: Side, reason: str) -> None:
    desk = _desk()
    child = desk.child()
    desk.report(_fill(child.cl_ord_id, "X1", 50, px, 50, child.qty, side,
                      last_px_text=px_text))  # a partial fill: the child still works
    _assert_nothing_booked_and_stopped(desk, "X1", reason)
    # The daily-loss control still stands on a true P&L; the symbol takes no new order.
    verdict = desk.risk.check(NewOrder("N1", "P1", "GOOG", Side.SELL, 10, ASK),
                              desk.engine.clock.now_ns())
    assert not verdict.allowed and verdict.reason is DenyReason.SYMBOL_HELD
    # The parent sends nothing but cancels, and ends "stopped", naming the fill.
    desk.venue.sent.clear()
    desk.tick(2.0)
    assert desk.venue.sent and all(isinstance(i, CancelOrder) for i in desk.venue.sent)
    desk.report(ExecutionReport(desk.venue.sent[0].cl_ord_id, "X2", ExecType.CANCELED,
                                OrdStatus.CANCELED, "GOOG", Side.SELL, 0, 0,
                                orig_cl_ord_id=child.cl_ord_id))
    desk.tick(3.0)
    outcome = desk.engine.outcome("P1")
    assert outcome.outcome == "stopped" and outcome.filled == 0
    assert len(outcome.suspect_fills) == 1 and "X1" in outcome.suspect_fills[0]


def test_fills_beyond_the_orders_quantity_are_not_believed() -> None:
    # Five fills of 25 under distinct ExecIDs on a 50-share child: two are believed.
    desk = _desk(qty=500)
    child = desk.child()
    assert child.qty == 50
    for n in range(5):
        desk.report(_fill(child.cl_ord_id, f"F{n}", 25, ASK, 25 * (n + 1), 50))
    assert desk.parent.filled == 50 and desk.risk.position("GOOG") == -50
    assert set(desk.store.fills()) == {"F0", "F1"}
    assert set(desk.store.suspect_fills()) == {"F2", "F3", "F4"}
    assert desk.parent.stopped and desk.metric("execagent_suspect_fills_total",
                                               reason="overfill") == 3


def test_a_fill_ten_times_the_child_is_not_believed() -> None:
    desk = _desk()
    child = desk.child()
    desk.report(_fill(child.cl_ord_id, "X1", child.qty * 10, ASK, child.qty * 10, child.qty))
    _assert_nothing_booked_and_stopped(desk, "X1", "overfill")
    assert desk.parent.remaining == desk.parent.qty


def test_a_cl_ord_id_never_sent_is_recorded_and_never_matched_to_another_order() -> None:
    desk = _desk()
    child = desk.child()
    desk.report(_fill("NOT-OURS", "X1", 100, ASK, 100, 100, orig_cl_ord_id=child.cl_ord_id))
    assert desk.parent.filled == 0 and desk.risk.position("GOOG") == 0
    assert desk.engine.oms.get(child.cl_ord_id) is not None
    assert desk.engine.oms.get(child.cl_ord_id).cum_qty == 0  # type: ignore[union-attr]
    assert desk.metric("execagent_unknown_order_reports_total") == 1
    assert desk.metric("execagent_suspect_fills_total", reason="unknown_order") == 1
    assert desk.store.suspect_fills()["X1"]["cl_ord_id"] == "NOT-OURS"
    assert "GOOG" in desk.risk.held_symbols()


def test_a_fill_without_last_qty_and_last_px_is_the_cum_qty_step_at_avg_px() -> None:
    desk = _desk()
    child = desk.child()
    desk.report(ExecutionReport(child.cl_ord_id, "X1", ExecType.FILL_42, OrdStatus.FILLED, "GOOG",
                                Side.SELL, child.qty, 0, avg_px_ticks=float(ASK)))
    assert desk.parent.filled == child.qty and desk.parent.notional_ticks == child.qty * ASK
    assert desk.risk.position("GOOG") == -child.qty
    assert desk.store.fills() == {"X1": (child.cl_ord_id, child.qty, ASK)}
    assert not desk.parent.stopped


def test_an_unreadable_report_makes_its_order_unknown_until_the_venue_answers() -> None:
    desk = _desk()
    child = desk.child()
    raw = (f"8=FIX.4.4\x0135=8\x0111={child.cl_ord_id}\x0117=X1\x01150=Z\x0139=2\x0155=GOOG"
           f"\x0154=2\x0114={child.qty}\x0132={child.qty}\x0131=580.01\x01")
    desk.report(UnreadableReport(raw, "refused by quickfix's data dictionary",
                                 child.cl_ord_id, None, "GOOG"))
    order = desk.engine.oms.get(child.cl_ord_id)
    assert order is not None and order.unknown
    assert desk.venue.asked == [child.cl_ord_id]  # an OrderStatusRequest went out
    assert desk.metric("execagent_unreadable_execution_reports_total") == 1
    assert desk.metric("execagent_orders_unknown") == 1
    entry = next(e for e in desk.journal.entries if e["kind"] == "unreadable_report")
    assert "150=Z" in entry["raw"] and entry["cl_ord_id"] == child.cl_ord_id
    # Until the answer: cancels only, even at the horizon, where the remainder would cross.
    desk.venue.sent.clear()
    for second in (20, 40, 101, 102):
        desk.tick(second)
    assert desk.venue.sent and all(isinstance(i, CancelOrder) for i in desk.venue.sent)
    # The answer: the order was filled. The fill no report brought is booked, at AvgPx.
    desk.report(ExecutionReport(child.cl_ord_id, "S1", ExecType.ORDER_STATUS, OrdStatus.FILLED,
                                "GOOG", Side.SELL, child.qty, 0, avg_px_ticks=float(ASK)))
    assert not order.unknown and desk.metric("execagent_orders_unknown") == 0
    assert desk.parent.filled == child.qty and desk.risk.position("GOOG") == -child.qty
    desk.venue.sent.clear()
    desk.tick(103)  # past the horizon: the remainder is crossed again
    assert any(isinstance(i, NewOrder) for i in desk.venue.sent)


def test_a_later_report_stating_cum_qty_settles_an_unknown_order_when_no_answer_comes() -> None:
    desk = _desk()
    child = desk.child()
    desk.report(UnreadableReport("(raw)", "refused", child.cl_ord_id, None, "GOOG"))
    desk.tick(101)  # at the horizon: the resting child is cancelled, nothing else is sent
    cancel = desk.venue.sent[-1]
    assert isinstance(cancel, CancelOrder)
    # The venue never answers the status request (a no-status venue), but its Canceled says
    # 30 were filled (the fill the unreadable report carried): booked, the order known again.
    desk.report(ExecutionReport(cancel.cl_ord_id, "X2", ExecType.CANCELED, OrdStatus.CANCELED,
                                "GOOG", Side.SELL, 30, 0, orig_cl_ord_id=child.cl_ord_id,
                                avg_px_ticks=float(ASK)))
    order = desk.engine.oms.get(child.cl_ord_id)
    assert order is not None and not order.unknown and order.status is OrdStatus.CANCELED
    assert desk.parent.filled == 30 and desk.risk.position("GOOG") == -30


def test_an_unreadable_report_naming_no_known_order_makes_the_symbols_orders_unknown() -> None:
    desk = _desk()
    child = desk.child()
    desk.report(UnreadableReport("8=FIX.4.4\x0135=8\x0155=GOOG\x01", "required tag 11 missing",
                                 None, None, "GOOG"))
    assert desk.venue.asked == [child.cl_ord_id]


def test_a_parent_always_ends_even_when_the_venue_answers_nothing() -> None:
    desk = _desk(settle_s=0.0)
    child = desk.child()
    # Past the horizon and its grace; the venue never answers the cancel.
    desk.engine.check_endings(106 * SECOND)
    assert any(isinstance(i, CancelOrder) for i in desk.venue.sent)
    time.sleep(0.001)
    desk.engine.check_endings(107 * SECOND)
    assert desk.parent.done
    outcome = desk.engine.outcome("P1")
    assert outcome.outcome == "expired" and outcome.working_orders == (child.cl_ord_id,)
    assert outcome.in_doubt


def test_a_restart_after_a_fill_not_believed_keeps_the_position() -> None:
    store = MemoryStore()
    desk = _desk(store=store)
    child = desk.child()
    desk.report(_fill(child.cl_ord_id, "F1", 40, ASK, 40, child.qty))  # believed
    desk.report(_fill(child.cl_ord_id, "F2", 60, ASK, 100, child.qty, Side.BUY))  # not
    before = (desk.risk.position("GOOG"), desk.risk.pnl(), desk.parent.filled)
    assert before[0] == -40 and desk.parent.stopped

    state = load_state(store)
    risk = make_overlay(roomy())
    risk.restore(state.working, state.fills, state.trading_state, state.trading_reason)
    risk.restore_holds(state.holds)
    engine = Engine({"GOOG": GOOG}, risk, RecordingSender(), store, Metrics())
    engine.restore(state, lambda _parent: TwapPolicy(passive=True))
    parent = engine.oms.parents["P1"]
    risk.on_market_data("GOOG", BID, ASK, 2 * SECOND)
    desk.risk.on_market_data("GOOG", BID, ASK, 2 * SECOND)
    assert (risk.position("GOOG"), risk.pnl(), parent.filled) == \
        (desk.risk.position("GOOG"), desk.risk.pnl(), before[2])
    assert parent.stopped == desk.parent.stopped and "GOOG" in risk.held_symbols()
    assert [f.exec_id for f in engine.suspect_fills] == ["F2"]
