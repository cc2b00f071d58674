"""The OMS state machine: each FIX 4.4 OrdStatus transition it accepts; it refuses the rest."""

import itertools

import pytest

from core.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrdStatus,
    ParentOrder,
    ReplaceOrder,
    Side,
)
from core.oms import TRANSITIONS, OrderManager, transition_allowed

S = OrdStatus
# The statuses an order can be in (REPLACED is FIX 4.2's and normalised away; the two
# quote-driven ones are not used by execagent).
STATES = [s for s in OrdStatus if s not in (S.REPLACED, S.CALCULATED, S.ACCEPTED_FOR_BIDDING)]


def _oms_with_order(qty: int = 100) -> tuple[OrderManager, ParentOrder]:
    oms = OrderManager()
    parent = ParentOrder("P1", "GOOG", Side.SELL, 1000, 0, 10**12, "twap")
    oms.add_parent(parent)
    oms.on_sent(NewOrder("C1", "P1", "GOOG", Side.SELL, qty, 58000))
    return oms, parent


def _report(status: OrdStatus, exec_type: ExecType, exec_id: str, cl: str = "C1",
            last_qty: int = 0, last_px: int | None = None, cum: int = 0,
            orig: str | None = None) -> ExecutionReport:
    return ExecutionReport(cl, exec_id, exec_type, status, "GOOG", Side.SELL, cum, 0,
                           last_qty, last_px, "O1", orig)


EXPECTED = {
    S.PENDING_NEW: {S.NEW, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED,
                    S.PENDING_CANCEL, S.PENDING_REPLACE},
    S.NEW: {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED,
            S.EXPIRED, S.DONE_FOR_DAY, S.SUSPENDED, S.STOPPED},
    S.PARTIALLY_FILLED: {S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED, S.EXPIRED,
                         S.DONE_FOR_DAY, S.SUSPENDED, S.STOPPED},
    S.PENDING_CANCEL: {S.CANCELED, S.NEW, S.PARTIALLY_FILLED, S.FILLED},
    S.PENDING_REPLACE: {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.PENDING_CANCEL},
    S.SUSPENDED: {S.NEW, S.PARTIALLY_FILLED, S.CANCELED, S.PENDING_CANCEL, S.EXPIRED},
    S.STOPPED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(STATES, STATES)))
def test_every_transition_is_accepted_or_refused_as_specified(current: OrdStatus,
                                                              new: OrdStatus) -> None:
    allowed = new is current or new in EXPECTED.get(current, set())
    assert transition_allowed(current, new) is allowed

    oms, _ = _oms_with_order()
    order = oms.get("C1")
    assert order is not None
    order.status = current
    oms.on_execution_report(_report(new, ExecType.ORDER_STATUS, f"E-{current.name}-{new.name}"))
    assert order.status is (new if allowed else current)
    assert oms.rejected_transitions == (0 if allowed else 1)


def test_table_covers_every_state_used() -> None:
    assert set(TRANSITIONS) >= set(EXPECTED)


def test_fill_without_new_ack_counts_and_moves_to_filled() -> None:
    oms, parent = _oms_with_order(100)
    fill = oms.on_execution_report(_report(S.FILLED, ExecType.TRADE, "E1", last_qty=100,
                                           last_px=58001, cum=100))
    assert fill is not None and fill.qty == 100 and fill.price == 58001
    assert parent.filled == 100 and parent.notional_ticks == 100 * 58001
    assert oms.get("C1").status is S.FILLED  # type: ignore[union-attr]
    assert oms.working("P1") == []


def test_duplicate_exec_id_changes_nothing() -> None:
    oms, parent = _oms_with_order(100)
    report = _report(S.PARTIALLY_FILLED, ExecType.TRADE, "E1", last_qty=40, last_px=58000, cum=40)
    assert oms.on_execution_report(report) is not None
    assert oms.on_execution_report(report) is None
    assert parent.filled == 40


def test_fill_on_a_refused_transition_still_counts() -> None:
    oms, parent = _oms_with_order(100)
    oms.on_execution_report(_report(S.CANCELED, ExecType.CANCELED, "E1"))
    late = _report(S.PARTIALLY_FILLED, ExecType.TRADE, "E2", last_qty=10, last_px=58000, cum=10)
    assert oms.on_execution_report(late) is not None
    assert parent.filled == 10  # the money moved: the position follows it
    assert oms.get("C1").status is S.CANCELED  # type: ignore[union-attr]
    assert oms.rejected_transitions == 1


def test_replace_moves_the_order_to_its_new_clordid() -> None:
    oms, _ = _oms_with_order(100)
    oms.on_execution_report(_report(S.NEW, ExecType.NEW, "E1"))
    oms.on_sent(ReplaceOrder("C2", "C1", "P1", "GOOG", Side.SELL, 60, 58002))
    order = oms.get("C1")
    assert order is not None and order.pending_cl_ord_id == "C2"
    oms.on_execution_report(_report(S.NEW, ExecType.REPLACED, "E2", cl="C2", orig="C1"))
    assert order.cl_ord_id == "C2" and order.previous_cl_ord_ids == ["C1"]
    assert (order.qty, order.price, order.pending_cl_ord_id) == (60, 58002, None)
    assert oms.get("C2") is order


def test_fix42_replaced_status_is_normalised() -> None:
    oms, _ = _oms_with_order(100)
    oms.on_execution_report(_report(S.NEW, ExecType.NEW, "E1"))
    oms.on_sent(ReplaceOrder("C2", "C1", "P1", "GOOG", Side.SELL, 60, 58002))
    oms.on_execution_report(_report(S.REPLACED, ExecType.REPLACED, "E2", cl="C2", orig="C1"))
    assert oms.get("C2").status is S.NEW  # type: ignore[union-attr]


def test_cancel_then_cancel_reject_restores_the_order() -> None:
    oms, _ = _oms_with_order(100)
    oms.on_execution_report(_report(S.NEW, ExecType.NEW, "E1"))
    oms.on_sent(CancelOrder("C2", "C1", "P1", "GOOG", Side.SELL, 100))
    order = oms.get("C1")
    assert order is not None and order.pending_cl_ord_id == "C2"
    oms.on_cancel_reject(CancelReject("C2", "C1", S.NEW, "1", "too late"))
    assert order.pending_cl_ord_id is None and order.status is S.NEW


def test_unknown_clordid_is_counted_not_raised() -> None:
    oms, _ = _oms_with_order()
    assert oms.on_execution_report(_report(S.NEW, ExecType.NEW, "E9", cl="NOPE")) is None
    assert oms.unknown_reports == 1


def test_duplicate_parent_is_refused() -> None:
    oms, parent = _oms_with_order()
    with pytest.raises(ValueError, match="already exists"):
        oms.add_parent(parent)
