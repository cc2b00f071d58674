"""What the OMS and the risk ledger remember stays bounded by what is open, not by the day's
order messages: an order replaced thousands of times keeps its first and latest ClOrdIDs, and
the duplicate checks remember the recent non-trade reports and ClOrdIDs, while every trade's
ExecID is kept (counting a trade twice moves the position). Sizes are asserted, not memory:
the memory itself is measured in bench/bench_tick_to_wire.py and bench/tick_probe.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.domain import (
    KEPT_PREVIOUS_CL_ORD_IDS,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrdStatus,
    ParentOrder,
    ReplaceOrder,
    Side,
)
from core.oms import RECENT_EXEC_IDS, OrderManager
from core.windows import RecentIds
from risk.ledger import _KEPT_IDS, RECENT_CL_ORD_IDS
from risk.verdict import DenyReason
from service.state.recovery import load_state
from service.state.store import MemoryStore
from tests.support.risk import SECOND, make_overlay, new, report, roomy

REPLACES = 200


def _report(cl: str, exec_id: str, exec_type: ExecType = ExecType.REPLACED,
            status: OrdStatus = OrdStatus.NEW, last_qty: int = 0, cum: int = 0,
            orig: str | None = None) -> ExecutionReport:
    return ExecutionReport(cl, exec_id, exec_type, status, "GOOG", Side.SELL, cum, 0, last_qty,
                           58_000 if last_qty else None, "O1", orig)


def _oms() -> OrderManager:
    oms = OrderManager()
    oms.add_parent(ParentOrder("P1", "GOOG", Side.SELL, 10**6, 0, 10**12, "onnx"))
    oms.on_sent(NewOrder("C0", "P1", "GOOG", Side.SELL, 10**5, 58_000))
    oms.on_execution_report(_report("C0", "E-new", ExecType.NEW))
    return oms


def _replace(oms: OrderManager, n: int) -> None:
    """The n-th replace (C{n-1} -> C{n}), acknowledged."""
    oms.on_sent(ReplaceOrder(f"C{n}", f"C{n - 1}", "P1", "GOOG", Side.SELL, 10**5, 58_000 + n))
    oms.on_execution_report(_report(f"C{n}", f"E{n}", orig=f"C{n - 1}"))


@given(st.integers(1, 8), st.lists(st.sampled_from("abcdefghijkl"), max_size=60))
def test_recent_ids_remember_the_last_distinct_ids_added(capacity: int, added: list[str]) -> None:
    recent = RecentIds(capacity)
    kept: list[str] = []  # the reference: distinct ids in the order first added, newest last
    for item in added:
        recent.add(item)
        if item not in kept:
            kept = [*kept, item][-capacity:]
    assert len(recent) == len(kept)
    assert {item for item in "abcdefghijkl" if item in recent} == set(kept)


def test_recent_ids_refuse_a_capacity_below_one() -> None:
    try:
        RecentIds(0)
    except ValueError as exc:
        assert "at least 1" in str(exc)
    else:
        raise AssertionError("RecentIds(0) was accepted")


def test_an_order_replaced_many_times_keeps_its_first_and_latest_clordids() -> None:
    oms = _oms()
    for n in range(1, REPLACES + 1):
        _replace(oms, n)
    order = oms.get(f"C{REPLACES}")
    assert order is not None and order.price == 58_000 + REPLACES
    assert order.previous_cl_ord_ids == ["C0", *(f"C{n}" for n in range(
        REPLACES - KEPT_PREVIOUS_CL_ORD_IDS + 1, REPLACES))]
    assert order.first_cl_ord_id == "C0"
    assert oms.get("C0") is order and oms.get(f"C{REPLACES - 1}") is order
    assert oms.get("C1") is None  # forgotten
    assert len({cl for cl in (f"C{n}" for n in range(REPLACES + 1)) if oms.get(cl)}) == \
        KEPT_PREVIOUS_CL_ORD_IDS + 1


def test_a_report_naming_a_forgotten_clordid_is_counted_as_unknown() -> None:
    oms = _oms()
    for n in range(1, REPLACES + 1):
        _replace(oms, n)
    assert oms.on_execution_report(_report("C1", "E-late", ExecType.TRADE,
                                           OrdStatus.PARTIALLY_FILLED, 10, 10)) is None
    assert oms.unknown_reports == 1
    assert oms.parents["P1"].filled == 0


def test_fills_are_stored_under_the_first_clordid_so_recovery_finds_them() -> None:
    oms, store = _oms(), MemoryStore()
    store.save_parent(oms.parents["P1"])

    def apply(report_: ExecutionReport) -> None:
        fill = oms.on_execution_report(report_)
        if fill is not None:
            store.record_fill(fill.exec_id, fill.first_cl_ord_id, fill.qty, fill.price)
        order = oms.get(report_.cl_ord_id)
        assert order is not None
        store.save_child(order)

    apply(_report("C0", "T-early", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 30, 30))
    for n in range(1, REPLACES + 1):
        _replace(oms, n)
    apply(_report(f"C{REPLACES}", "T-late", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 20, 50))

    state = load_state(store)
    assert state.problems == []
    (child,) = state.children
    assert child.cum_qty == 50 and len(child.previous_cl_ord_ids) == KEPT_PREVIOUS_CL_ORD_IDS
    assert state.parents[0].filled == 50


def test_a_trades_exec_id_is_kept_after_the_recent_window_has_moved_on() -> None:
    oms = _oms()
    assert oms.on_execution_report(_report("C0", "T1", ExecType.TRADE,
                                           OrdStatus.PARTIALLY_FILLED, 10, 10)) is not None
    for n in range(RECENT_EXEC_IDS + 10):  # restatements: non-trade reports, each new
        oms.on_execution_report(_report("C0", f"S{n}", ExecType.RESTATED,
                                        OrdStatus.PARTIALLY_FILLED, cum=10))
    assert oms.on_execution_report(_report("C0", "T1", ExecType.TRADE,
                                           OrdStatus.PARTIALLY_FILLED, 10, 10)) is None
    assert oms.parents["P1"].filled == 10
    assert len(oms._recent_exec_ids) == RECENT_EXEC_IDS  # noqa: SLF001 - the bound itself
    assert "S0" not in oms._recent_exec_ids  # noqa: SLF001


def test_the_risk_ledger_keeps_an_open_orders_latest_clordids_only() -> None:
    overlay = make_overlay(roomy(**{"global.throttle": {"messages_per_second": 10**6,
                                                        "burst": 10**6}}))
    working = new(Side.SELL, 100, 58_000, cl_ord_id="L0")
    assert overlay.check(working, 0).reason is None
    overlay.on_execution_report(report(working, ExecType.NEW, OrdStatus.NEW, 0, 100), 0)
    previous: NewOrder | ReplaceOrder = working
    for n in range(1, REPLACES + 1):
        replacing = ReplaceOrder(f"L{n}", previous.cl_ord_id, "P", "GOOG", Side.SELL, 100,
                                 58_000 + n % 3)
        assert overlay.check(replacing, n * SECOND // 1000).reason is None
        overlay.on_execution_report(report(replacing, ExecType.REPLACED, OrdStatus.NEW, 0, 100,
                                           orig=previous.cl_ord_id), n * SECOND // 1000)
        previous = replacing
    ledger = overlay.ledger
    (tracked,) = ledger.open_order_list()
    assert tracked.ids[-1] == f"L{REPLACES}" and len(tracked.ids) <= _KEPT_IDS
    assert len(ledger.orders) == len(tracked.ids)
    assert ledger.exposure["GOOG"].working_sell == 100
    # the duplicate-ClOrdID check still knows every ClOrdID in its window
    again = new(Side.SELL, 100, 58_000, cl_ord_id="L0")
    assert overlay.check(again, SECOND).reason is DenyReason.DUPLICATE_CL_ORD_ID
    assert len(ledger.seen_cl_ord_ids) == REPLACES + 1 <= RECENT_CL_ORD_IDS
